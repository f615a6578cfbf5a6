//! Inputs: everything that can happen to the pipeline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::effect::EffectOutcome;
use super::model::{ApprovalAction, ChangelogEntry, DeploymentId, Timestamp};

/// One input to [`decide`](super::decide).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Input {
    /// HandlePush: CI built and published an image.
    BuildNotified(BuildNotified),
    /// A release of an application set's bundle is requested.
    ReleaseRequested(ReleaseRequested),
    /// HandleDeploymentStatus: the engine reports on a stage.
    StatusReported(StatusReported),
    /// An approver acts on a gated stage.
    ApprovalRecorded(ApprovalRecorded),
    /// Retry a deployment waiting on a failed side effect, or a failed release (a new attempt).
    RetryRequested {
        /// The deployment.
        deployment: DeploymentId,
        /// Who asks.
        actor: String,
    },
    /// Cancel a deployment that waits (not started, at a gate, held, rejected), is parked on a
    /// failed effect, or failed: it ends CANCELLED, releases the environments it claims, keeps
    /// every tag and ledger row, and the ledger records who cancelled it, when and why.
    CancelRequested {
        /// The deployment.
        deployment: DeploymentId,
        /// Who asks.
        actor: String,
        /// Why.
        #[serde(default)]
        comment: String,
    },
    /// Redeploy an earlier version of an application into one environment.
    RollbackRequested {
        /// The application.
        application: String,
        /// The environment.
        environment: String,
        /// The version (an existing image tag).
        version: String,
        /// Who asks.
        actor: String,
    },
    /// Hold an environment: promotions into it wait as HELD.
    HoldPlaced {
        /// The environment.
        environment: String,
        /// Why.
        reason: String,
        /// Who.
        actor: String,
    },
    /// Lift a hold; held promotions resume.
    HoldLifted {
        /// The environment.
        environment: String,
        /// Who.
        actor: String,
    },
    /// The driver performed an effect.
    EffectCompleted {
        /// The deployment the effect belongs to.
        deployment: DeploymentId,
        /// The effect's id.
        effect_id: String,
        /// What came of it.
        outcome: EffectOutcome,
    },
    /// The driver gave up on an effect.
    EffectFailed {
        /// The deployment the effect belongs to.
        deployment: DeploymentId,
        /// The effect's id.
        effect_id: String,
        /// The last error.
        error: String,
        /// True when retrying cannot help (e.g. a tag exists with another digest).
        permanent: bool,
    },
    /// Time passed: timers (engine timeouts) fire.
    Tick,
}

/// A CI build notification.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildNotified {
    /// The BuildDefinition that built it, or the ExternalApplication it is a version of.
    pub build_definition_id: String,
    /// The image name (`containerize.name`; for an ExternalApplication, its image).
    pub container: String,
    /// The image tag, e.g. `v1.4.2` or `v1.4.1-hotfix.0`.
    pub version: String,
    /// The commit built.
    #[serde(default)]
    pub commit_sha: String,
    /// The source repository.
    #[serde(default)]
    pub repository: String,
    /// The git ref built.
    #[serde(default, rename = "ref")]
    pub git_ref: String,
    /// The image digest, when known.
    #[serde(default)]
    pub digest: Option<String>,
    /// The author of the change, when known.
    #[serde(default)]
    pub author: Option<String>,
    /// When the commit built was made (its committer time), when CI says: where the lead time
    /// for changes starts.
    #[serde(default)]
    pub committed_at: Option<Timestamp>,
    /// Changelog entries CI computed for this version.
    #[serde(default)]
    pub changelog: Vec<ChangelogEntry>,
}

/// A release request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRequested {
    /// The application set.
    pub application_set: String,
    /// The bundle name, e.g. `2026.11`.
    pub bundle: String,
    /// Versions per application; an app not named takes its latest fully succeeded PreRelease.
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    /// Who asks.
    #[serde(default)]
    pub actor: String,
}

/// The engine's report on one stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReported {
    /// The deployment, from the commit's trailer.
    pub deployment: DeploymentId,
    /// The stage, from the commit's trailer.
    pub stage_index: usize,
    /// SUCCESS or FAILED.
    pub status: EngineStatus,
    /// The engine run.
    #[serde(default)]
    pub run_id: String,
    /// The commit the engine reconciled.
    pub commit_sha: String,
    /// What the engine said.
    #[serde(default)]
    pub message: String,
}

/// The engine's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EngineStatus {
    /// Reconciled.
    Success,
    /// Failed.
    Failed,
}

/// An approver's action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecorded {
    /// The deployment.
    pub deployment: DeploymentId,
    /// The gated stage.
    pub stage_index: usize,
    /// The authenticated actor: an OrganizationUser name or primary email.
    pub actor: String,
    /// APPROVE or REJECT.
    pub action: ApprovalAction,
    /// Optional comment.
    #[serde(default)]
    pub comment: String,
}

impl Input {
    /// A short name for logs and metrics.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Input::BuildNotified(_) => "build-notified",
            Input::ReleaseRequested(_) => "release-requested",
            Input::StatusReported(_) => "status-reported",
            Input::ApprovalRecorded(_) => "approval-recorded",
            Input::RetryRequested { .. } => "retry-requested",
            Input::CancelRequested { .. } => "cancel-requested",
            Input::RollbackRequested { .. } => "rollback-requested",
            Input::HoldPlaced { .. } => "hold-placed",
            Input::HoldLifted { .. } => "hold-lifted",
            Input::EffectCompleted { .. } => "effect-completed",
            Input::EffectFailed { .. } => "effect-failed",
            Input::Tick => "tick",
        }
    }
}
