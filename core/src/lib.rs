//! `cd-core`: the pure heart of Infrastream CD.
//!
//! Sans-IO means every function here is data in, data out: callers hand in file contents, tags,
//! time and ids; nothing reads a clock, the environment, the network or the file system, and
//! nothing spawns or awaits. That keeps every decision reproducible, property-testable and
//! embeddable in any runtime.

//!
//! # A decision, from data to data
//!
//! ```
//! use cd_core::manifest::{Catalog, Selector, set_version};
//! use cd_core::pipeline::{
//!     BuildNotified, EffectKind, Input, SequentialIds, Settings, Snapshot, State, Timestamp,
//!     decide,
//! };
//!
//! // A tenant: one application, built by CI, deployed to one environment.
//! let tenant = r#"
//! apiVersion: lowops.manifests.v1
//! kind: ReleaseTrack
//! metadata: {name: main}
//! spec:
//!   preReleaseStages: [{environments: [development]}]
//! ---
//! apiVersion: lowops.manifests.v1
//! kind: Environment
//! metadata: {name: development}
//! ---
//! apiVersion: lowops.manifests.v1
//! kind: ApplicationSet
//! metadata: {name: shop, release-track: main}
//! ---
//! apiVersion: lowops.manifests.v1
//! kind: Application
//! metadata: {name: api, application-set: shop}
//! spec: {buildDefinition: api}
//! ---
//! apiVersion: lowops.manifests.v1
//! kind: GithubRepository
//! metadata: {name: api}
//! ---
//! apiVersion: lowops.manifests.v1
//! kind: ArtifactRegistry
//! metadata: {name: containers}
//! ---
//! apiVersion: lowops.manifests.v1
//! kind: BuildDefinition
//! metadata: {name: api, github-repository: api}
//! spec:
//!   type: GOLANG
//!   stages: [build, containerize]
//!   containerize: {name: api, registries: [containers]}
//! "#;
//! let deploy = "apiVersion: lowops.manifests.v1
//! kind: DeploymentConfig
//! metadata: {name: api, environment: development}
//! spec:
//!   version: v0.9.0 # what runs there now
//! ";
//! let catalog = Catalog::load_valid([("tenant.yaml", tenant), ("api/development.yaml", deploy)])
//!     .expect("a valid tenant");
//!
//! // CI built api v1.0.0: the decision says what to store and what to do, nothing more.
//! let input = Input::BuildNotified(BuildNotified {
//!     build_definition_id: "api".into(),
//!     container: "api".into(),
//!     version: "v1.0.0".into(),
//!     ..BuildNotified::default()
//! });
//! let state = State::default();
//! let snapshot = Snapshot { catalog: &catalog, state: &state, settings: &Settings::default() };
//! let mut ids = SequentialIds::new("d-", 1);
//! let decision = decide(&snapshot, &input, Timestamp(0), &mut ids).expect("accepted");
//! let edits: Vec<_> = decision
//!     .effects
//!     .iter()
//!     .filter_map(|e| match &e.kind {
//!         EffectKind::WriteManifests { edits, .. } => Some(edits.clone()),
//!         _ => None,
//!     })
//!     .flatten()
//!     .collect();
//! assert_eq!(edits[0].path, "api/development.yaml");
//! assert_eq!(edits[0].version, "v1.0.0");
//!
//! // The one edit the engine makes to a manifest: that line, and nothing else.
//! let selector = Selector::Named { application: "api", environment: "development" };
//! let edited = set_version(deploy, selector, "v1.0.0").expect("edited");
//! assert!(edited.ends_with("version: v1.0.0 # what runs there now\n"));
//! ```
//!
//! A caller stores `decision.writes` (atomically, revision-checked) and performs
//! `decision.effects`; `cd-ports`' `Driver` does both, through whatever adapters it is given.

#![deny(missing_docs)]

pub mod broker;
pub mod dora;
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
