//! What is wrong with a manifest, said so a person can find and fix it.

use std::fmt;

use serde::Serialize;

/// One problem found in the manifests: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file, as the caller named it.
    pub file: String,
    /// The line (from 1), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The object's kind, when the document got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The object's `metadata.name`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The field at fault, as a path such as `spec.releaseStages[1].environments[0]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ":")?;
        match (&self.kind, &self.name) {
            (Some(kind), Some(name)) => write!(f, " {kind}/{name}:")?,
            (Some(kind), None) => write!(f, " {kind}:")?,
            _ => {}
        }
        if let Some(field) = &self.field {
            write!(f, " {field}:")?;
        }
        write!(f, " {}", self.message)
    }
}

/// The problems that made a set of manifests unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in the manifests; the first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
pub struct Problems(pub Vec<Problem>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_file_line_object_and_field() {
        let p = Problem {
            file: "apps/api.yaml".into(),
            line: Some(3),
            kind: Some("Application".into()),
            name: Some("api".into()),
            field: Some("metadata.application-set".into()),
            message: "no ApplicationSet named 'shop'".into(),
        };
        assert_eq!(
            p.to_string(),
            "apps/api.yaml:3: Application/api: metadata.application-set: no ApplicationSet named 'shop'"
        );
    }
}
