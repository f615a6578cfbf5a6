//! The manifest kinds the CD engine reads, as plain data.
//!
//! Only fields the engine acts on are modelled; everything else in a manifest is ignored on
//! purpose, because a real tenant repository carries far more than deployment needs.

use serde::{Deserialize, Serialize};

/// Where a manifest object was declared: the file and the line of its document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    /// Path of the file, as the caller named it.
    pub file: String,
    /// Line (from 1) where the document's `kind` is written.
    pub line: usize,
}

/// An ordered list of environments deployed together, with an optional approval gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// Environment names, deployed together.
    pub environments: Vec<String>,
    /// The gate a promotion into this stage must pass, if any.
    pub approval: Option<ApprovalPolicy>,
}

/// `approvalPolicy.anyOf`: a quorum of approvers drawn from stakeholder groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPolicy {
    /// How many distinct approvers are needed.
    pub min_approvals: u32,
    /// Stakeholder groups, each named by its group name or its email.
    pub groups: Vec<String>,
}

/// Which list of stages a deployment runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Track {
    /// `preReleaseStages`: every CI build of an app.
    PreRelease,
    /// `releaseStages`: a bundle of an application set.
    Release,
    /// `hotfixStages`: a build on a release branch.
    Hotfix,
}

/// `ReleaseTrack`: the stages deployments go through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseTrack {
    /// `metadata.name`.
    pub name: String,
    /// `spec.preReleaseStages`.
    pub pre_release_stages: Vec<Stage>,
    /// `spec.releaseStages`.
    pub release_stages: Vec<Stage>,
    /// `spec.hotfixStages`.
    pub hotfix_stages: Vec<Stage>,
    /// Where it was declared.
    pub origin: Origin,
}

impl ReleaseTrack {
    /// The stages of one track.
    #[must_use]
    pub fn stages(&self, track: Track) -> &[Stage] {
        match track {
            Track::PreRelease => &self.pre_release_stages,
            Track::Release => &self.release_stages,
            Track::Hotfix => &self.hotfix_stages,
        }
    }
}

/// `ApplicationSet`: applications released together as one bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSet {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.release-track`.
    pub release_track: String,
    /// Where it was declared.
    pub origin: Origin,
}

/// Where an application's images come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Source {
    /// Built by CI from a `BuildDefinition` (kind `Application`, `spec.buildDefinition`).
    Build {
        /// The BuildDefinition's name.
        build_definition: String,
    },
    /// A pre-built image (kind `ExternalApplication`).
    External {
        /// The image name in the registry (`spec.image`, else the application's name).
        image: String,
        /// Registries that hold it (`spec.registries`).
        registries: Vec<String>,
    },
}

/// `Application` or `ExternalApplication`: a deployable unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// `metadata.name`; DeploymentConfigs of this application carry the same name.
    pub name: String,
    /// `metadata.application-set`.
    pub application_set: String,
    /// `metadata.release-track`, when written (it must match the set's).
    pub release_track: Option<String>,
    /// Where its images come from.
    pub source: Source,
    /// Where it was declared.
    pub origin: Origin,
}

impl Application {
    /// The manifest kind it was declared as.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self.source {
            Source::Build { .. } => "Application",
            Source::External { .. } => "ExternalApplication",
        }
    }
}

/// `ArtifactRegistry`: a named registry images are pushed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRegistry {
    /// `metadata.name`.
    pub name: String,
    /// `spec.type`, as written (DOCKER, STATIC, ...).
    pub registry_type: Option<String>,
    /// Where it was declared.
    pub origin: Origin,
}

/// `DeploymentConfig`: what runs of one application in one environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfig {
    /// `metadata.name`: the application.
    pub application: String,
    /// `metadata.environment`.
    pub environment: String,
    /// `spec.version`, the one field the CD engine writes.
    pub version: Option<String>,
    /// Where it was declared; the engine edits this file.
    pub origin: Origin,
}

/// `Environment`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// `metadata.name`.
    pub name: String,
    /// Where it was declared.
    pub origin: Origin,
}

/// `OrganizationUser`: a person who may act on deployments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationUser {
    /// `metadata.name`.
    pub name: String,
    /// `spec.primaryEmail`.
    pub primary_email: Option<String>,
    /// Where it was declared.
    pub origin: Origin,
}

/// `OrganizationUserGroup`: a named set of users, e.g. the stakeholders of a gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationUserGroup {
    /// `metadata.name`.
    pub name: String,
    /// `spec.email`, when the group has one (approval policies may name a group by it).
    pub email: Option<String>,
    /// `spec.members.users`: OrganizationUser names.
    pub users: Vec<String>,
    /// `spec.members.external`: identities outside the organization, as written.
    pub external: Vec<String>,
    /// Where it was declared.
    pub origin: Origin,
}
