//! `cd-core`: the pure heart of Infrastream CD.
//!
//! Sans-IO means every function here is data in, data out: callers hand in file contents, tags,
//! time and ids; nothing reads a clock, the environment, the network or the file system, and
//! nothing spawns or awaits. That keeps every decision reproducible, property-testable and
//! embeddable in any runtime.

#![deny(missing_docs)]

pub mod broker;
pub mod manifest;
pub mod pipeline;
pub mod version;
mod yaml;

/// Why a YAML text could not be read as data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    /// Line of the problem.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads every document of a YAML text as JSON values (for configuration and scenario files),
/// with the same parser, limits and alias handling as the manifests.
///
/// # Errors
/// [`YamlError`] on invalid YAML, nesting deeper than 64, or aliases that expand too far.
pub fn yaml_documents(text: &str) -> Result<Vec<serde_json::Value>, YamlError> {
    let err = |e: yaml::SyntaxError| YamlError {
        line: e.line,
        message: e.message,
    };
    yaml::parse(text)
        .map_err(err)?
        .iter()
        .map(|d| yaml::to_json(d).map_err(err))
        .collect()
}
