//! Manifests (`apiVersion: lowops.manifests.v1`): the kinds the CD engine reads, a catalog that
//! resolves their references, and the one edit the engine makes to them.
//!
//! Callers hand in `(path, text)` pairs; nothing here touches the file system.

mod catalog;
mod check;
mod check_ci;
mod ci_kinds;
mod grammar;
mod kinds;
mod problem;
mod query;
mod read;
mod read_ci;
mod set_version;
mod token_policy;

pub use catalog::{Catalog, Loaded};
pub use ci_kinds::{
    BinaryAuthorization, BranchStrategy, BuildDefinition, BuildStage, BuildType, CiTools,
    CodeOwners, Containerize, GithubConnection, GithubRepository, GoogleCloud, Publish,
    WorkflowSettings,
};
pub use kinds::{
    Application, ApplicationSet, ApprovalPolicy, ArtifactRegistry, DeploymentConfig, Environment,
    OrganizationUser, OrganizationUserGroup, Origin, ReleaseTrack, Source, Stage, Track,
};
pub use problem::{Problem, Problems};
pub use query::Image;
pub use read::{API_VERSION, KINDS};
pub use set_version::{EditError, Selector, set_version};
pub use token_policy::{TokenGrant, TokenPolicy, TokenSubject};
