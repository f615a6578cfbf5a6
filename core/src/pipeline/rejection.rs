//! Rejections: inputs the pipeline refuses. A rejection writes nothing and has no effect.

use super::model::{DeploymentId, DeploymentStatus, StageStatus};
use super::requirements::Requirement;

/// Why an input was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No Application builds this image with this BuildDefinition (and no ExternalApplication
    /// of that name has this image).
    #[error(
        "unknown build: no application is built by '{build_definition}' as image '{container}'"
    )]
    UnknownBuild {
        /// The BuildDefinition named.
        build_definition: String,
        /// The image named.
        container: String,
    },
    /// A field of the input is not acceptable.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such application set.
    #[error("unknown application set '{0}'")]
    UnknownApplicationSet(String),
    /// No such application.
    #[error("unknown application '{0}'")]
    UnknownApplication(String),
    /// The tenant has no Environment of that name.
    #[error("no Environment named '{0}'")]
    NoSuchEnvironment(String),
    /// The application has no DeploymentConfig for that environment.
    #[error("application '{application}' has no DeploymentConfig for environment '{environment}'")]
    UnknownEnvironment {
        /// The application.
        application: String,
        /// The environment.
        environment: String,
    },
    /// The release policy gate: some apps have no version that passed every PreRelease stage.
    #[error("release {application_set}/{bundle} refused: {}", missing.iter().map(|(a, r)| format!("{a}: {r}")).collect::<Vec<_>>().join("; "))]
    ReleaseNotReady {
        /// The set.
        application_set: String,
        /// The bundle.
        bundle: String,
        /// Each app without an eligible version, with why.
        missing: Vec<(String, String)>,
    },
    /// No such deployment.
    #[error("unknown deployment '{0}'")]
    UnknownDeployment(DeploymentId),
    /// The deployment has no such stage.
    #[error("deployment '{deployment}' has no stage {stage}")]
    UnknownStage {
        /// The deployment.
        deployment: DeploymentId,
        /// The stage index asked for.
        stage: usize,
    },
    /// The stage has no approval gate.
    #[error("stage {stage} of '{deployment}' has no approval gate")]
    NoGate {
        /// The deployment.
        deployment: DeploymentId,
        /// The stage.
        stage: usize,
    },
    /// Approvals are accepted only while a stage is AWAITING_APPROVAL, HELD or REJECTED.
    #[error("stage {stage} of '{deployment}' is {}, not awaiting approval", status.as_str())]
    NotAwaitingApproval {
        /// The deployment.
        deployment: DeploymentId,
        /// The stage.
        stage: usize,
        /// Its status.
        status: StageStatus,
    },
    /// The actor is in none of the stage's stakeholder groups.
    #[error("'{actor}' is not a stakeholder of stage {stage} of '{deployment}'")]
    NotAStakeholder {
        /// Who tried.
        actor: String,
        /// The deployment.
        deployment: DeploymentId,
        /// The stage.
        stage: usize,
    },
    /// The track forbids authors from approving their own change.
    #[error("'{actor}' authored this change and may not approve it")]
    AuthorMayNotApprove {
        /// Who tried.
        actor: String,
    },
    /// Retry does not apply to this deployment.
    #[error("deployment '{deployment}' ({}) cannot be retried: {reason}", status.as_str())]
    NotRetryable {
        /// The deployment.
        deployment: DeploymentId,
        /// Its status.
        status: DeploymentStatus,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// A build, a rollback or a retried release names a version whose image tag (or, for a
    /// release, git tag) does not exist: no manifest may name a version that does not resolve.
    #[error("{} not found", missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Unresolvable {
        /// What is missing.
        missing: Vec<Requirement>,
    },
    /// Cancel does not apply to this deployment.
    #[error("deployment '{deployment}' ({}) cannot be cancelled: {reason}", status.as_str())]
    NotCancellable {
        /// The deployment.
        deployment: DeploymentId,
        /// Its status.
        status: DeploymentStatus,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// The RC or production tag name would not be a valid image tag.
    #[error("invalid tag: {0}")]
    InvalidTag(String),
}

impl Rejection {
    /// The refusal of `input` when `missing` does not exist: a release is not ready (each app
    /// with what it lacks), a build or a rollback is unresolvable.
    #[must_use]
    pub fn missing(input: &super::Input, missing: Vec<Requirement>) -> Rejection {
        match input {
            super::Input::ReleaseRequested(r) => Rejection::ReleaseNotReady {
                application_set: r.application_set.clone(),
                bundle: r.bundle.clone(),
                missing: missing
                    .iter()
                    .map(|m| (m.application().to_string(), format!("{m} does not exist")))
                    .collect(),
            },
            _ => Rejection::Unresolvable { missing },
        }
    }

    /// True when the input named something that does not exist (HTTP 404/422), false when it
    /// was understood and refused.
    #[must_use]
    pub fn is_unknown(&self) -> bool {
        matches!(
            self,
            Rejection::UnknownBuild { .. }
                | Rejection::UnknownApplicationSet(_)
                | Rejection::UnknownApplication(_)
                | Rejection::UnknownEnvironment { .. }
                | Rejection::NoSuchEnvironment(_)
                | Rejection::UnknownDeployment(_)
                | Rejection::UnknownStage { .. }
                | Rejection::Unresolvable { .. }
        )
    }
}
