//! The pipeline's state, mirroring the seed's tables as Rust types.
//!
//! | table | type |
//! |---|---|
//! | PreReleaseDeployments, ReleaseDeployments (and hotfix/rollback, by `track`) | [`Deployment`] |
//! | PreReleaseStages, ReleaseStages | [`StageRecord`] in `Deployment::stages` |
//! | ReleaseBundleApps | [`BundleApp`] in `Deployment::apps` |
//! | DeploymentApprovals (append-only) | [`ApprovalRecord`] in `State::approvals` |
//! | DeploymentChangelogs | [`ChangelogRecord`] in `State::changelogs` |
//! | holds, environment versions (ours) | [`Hold`], [`EnvVersion`] |

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::effect::PendingEffect;
use crate::manifest::ApprovalPolicy;

/// Milliseconds since the Unix epoch. The core never reads a clock: callers pass `now`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// This time plus `ms` milliseconds, saturating.
    #[must_use]
    pub fn plus_ms(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// RFC 3339 in UTC, to the millisecond (`2026-11-27T02:19:52.123Z`): how CloudEvents'
    /// `time` and the API write times.
    #[must_use]
    pub fn rfc3339(self) -> String {
        let format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&format).ok())
            // Outside time's years (±9999): say so rather than invent a date.
            .unwrap_or_else(|| format!("{}ms-since-epoch-out-of-range", self.0))
    }

    /// The time an RFC 3339 text names (any offset; `2026-12-04T09:30:00+01:00`), to the
    /// millisecond.
    ///
    /// ```
    /// use cd_core::pipeline::Timestamp;
    ///
    /// assert_eq!(Timestamp::parse_rfc3339("1970-01-01T00:00:01.5Z"), Ok(Timestamp(1_500)));
    /// assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    /// ```
    ///
    /// # Errors
    /// What is wrong with the text, naming it.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("'{text}' is not an RFC 3339 time: {e}"))?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
            .map(Timestamp)
            .map_err(|_| format!("'{text}' is out of range"))
    }
}

/// A deployment's id, from the caller's id source.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeploymentId(pub String);

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for DeploymentId {
    fn from(s: &str) -> Self {
        DeploymentId(s.to_string())
    }
}

/// Which road a deployment takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentTrack {
    /// A CI build of one application through `preReleaseStages`. Spelt `PRERELEASE` everywhere
    /// (API, events, stores, CLI); `PRE_RELEASE`, an earlier spelling, is still read.
    #[serde(rename = "PRERELEASE", alias = "PRE_RELEASE")]
    PreRelease,
    /// A bundle of an application set through `releaseStages`, tagged RC then production.
    Release,
    /// A build on a release branch through `hotfixStages`.
    Hotfix,
    /// An explicit redeploy of an earlier version into one environment.
    Rollback,
}

impl DeploymentTrack {
    /// The spelling used in APIs and events.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentTrack::PreRelease => "PRERELEASE",
            DeploymentTrack::Release => "RELEASE",
            DeploymentTrack::Hotfix => "HOTFIX",
            DeploymentTrack::Rollback => "ROLLBACK",
        }
    }

    /// The track spelled `text` as [`DeploymentTrack::as_str`] spells it (stores keep that).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        [
            DeploymentTrack::PreRelease,
            DeploymentTrack::Release,
            DeploymentTrack::Hotfix,
            DeploymentTrack::Rollback,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

/// A deployment's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    /// Created; nothing promoted yet, or waiting for a retry after a failed side effect.
    Pending,
    /// Side effects or a stage are under way.
    InProgress,
    /// The current stage waits for its approval quorum.
    AwaitingApproval,
    /// Every stage succeeded (and, for a release, production tags exist).
    Succeeded,
    /// A stage failed or a side effect failed for good.
    Failed,
    /// The current stage was rejected; a later APPROVE may resume it.
    Rejected,
    /// A newer version of the application replaced it before it was promoted.
    Superseded,
    /// A newer attempt of the same release replaced it.
    Cancelled,
}

impl DeploymentStatus {
    /// Final statuses: nothing happens to the deployment any more. The one change a final
    /// status still sees is FAILED to CANCELLED, when someone cancels a failed deployment (it
    /// is then not retried).
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeploymentStatus::Succeeded
                | DeploymentStatus::Failed
                | DeploymentStatus::Superseded
                | DeploymentStatus::Cancelled
        )
    }

    /// The spelling used in APIs and events.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Pending => "PENDING",
            DeploymentStatus::InProgress => "IN_PROGRESS",
            DeploymentStatus::AwaitingApproval => "AWAITING_APPROVAL",
            DeploymentStatus::Succeeded => "SUCCEEDED",
            DeploymentStatus::Failed => "FAILED",
            DeploymentStatus::Rejected => "REJECTED",
            DeploymentStatus::Superseded => "SUPERSEDED",
            DeploymentStatus::Cancelled => "CANCELLED",
        }
    }
}

/// A stage's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StageStatus {
    /// Not reached yet, or queued behind another promotion into the same environment.
    Pending,
    /// Reached; its approval quorum is not met yet.
    AwaitingApproval,
    /// Gate met, but an environment of the stage is on hold.
    Held,
    /// The manifest commit is being written and pushed.
    Promoting,
    /// Committed; waiting for the engine's report.
    Deploying,
    /// The engine reported success.
    Succeeded,
    /// The engine reported failure, or did not report in time.
    Failed,
    /// An approver rejected it; a later APPROVE may resume it.
    Rejected,
    /// Its deployment was cancelled or superseded.
    Cancelled,
}

impl StageStatus {
    /// Final statuses never change again.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(
            self,
            StageStatus::Succeeded | StageStatus::Failed | StageStatus::Cancelled
        )
    }

    /// Waiting on a human (quorum, hold, or after a rejection).
    #[must_use]
    pub fn is_gated(self) -> bool {
        matches!(
            self,
            StageStatus::AwaitingApproval | StageStatus::Held | StageStatus::Rejected
        )
    }

    /// The spelling used in APIs and events.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Pending => "PENDING",
            StageStatus::AwaitingApproval => "AWAITING_APPROVAL",
            StageStatus::Held => "HELD",
            StageStatus::Promoting => "PROMOTING",
            StageStatus::Deploying => "DEPLOYING",
            StageStatus::Succeeded => "SUCCEEDED",
            StageStatus::Failed => "FAILED",
            StageStatus::Rejected => "REJECTED",
            StageStatus::Cancelled => "CANCELLED",
        }
    }
}

/// One stage of one deployment (PreReleaseStages / ReleaseStages).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageRecord {
    /// Position in the deployment's stages, from 0.
    pub index: usize,
    /// Environments deployed together.
    pub environments: Vec<String>,
    /// The gate, copied from the ReleaseTrack when the deployment was created.
    pub approval: Option<ApprovalPolicy>,
    /// Status.
    pub status: StageStatus,
    /// The manifest commit that promoted this stage.
    pub commit_sha: Option<String>,
    /// The engine run that reconciled it.
    pub run_id: Option<String>,
    /// When the promotion started.
    pub started_at: Option<Timestamp>,
    /// When it reached a final status.
    pub finished_at: Option<Timestamp>,
    /// When the engine must have reported by, while DEPLOYING.
    pub deadline: Option<Timestamp>,
    /// The latest message from the engine or the pipeline.
    pub message: Option<String>,
}

/// One application of a release bundle (ReleaseBundleApps).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleApp {
    /// The application's semver version chosen for the bundle.
    pub version: String,
    /// The image the app deploys.
    pub image: String,
    /// Registries that hold the image.
    pub registries: Vec<String>,
    /// The source repository, when the app is built from one.
    pub repository: Option<String>,
    /// Where `release/<appSet>/<bundle>` points in that repository, once confirmed.
    pub branch_commit: Option<String>,
    /// The production tag chosen on completion.
    pub production_tag: Option<String>,
}

/// What CI said about the build a deployment carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildRef {
    /// The BuildDefinition (or ExternalApplication) name.
    pub build_definition: String,
    /// The image name.
    pub container: String,
    /// The commit built.
    pub commit_sha: String,
    /// The source repository.
    pub repository: String,
    /// The git ref built, e.g. `refs/heads/main`.
    pub git_ref: String,
    /// The image digest, when CI sent it.
    pub digest: Option<String>,
    /// The author of the change, when CI sent it.
    pub author: Option<String>,
    /// When the commit built was made, when CI sent it.
    #[serde(default)]
    pub committed_at: Option<Timestamp>,
}

/// Why a deployment is waiting for a retry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parked {
    /// The effect that failed.
    pub effect_id: String,
    /// Its last error.
    pub error: String,
}

/// Where a release deployment is between its stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReleasePhase {
    /// Listing existing tags to number the RC tag.
    ResolvingRc,
    /// Creating the release branches; no RC tag is asked for yet, so an attempt that fails
    /// here never reached a registry and its RC number is free for the next attempt.
    BranchingRc,
    /// Creating the RC tags.
    TaggingRc,
    /// Running the release stages.
    Stages,
    /// Listing tags to name the production tags.
    ResolvingProduction,
    /// Creating production tags (and GitHub releases).
    TaggingProduction,
    /// Done.
    Done,
}

/// A deployment: PreRelease, Release, Hotfix or Rollback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Its id.
    pub id: DeploymentId,
    /// Optimistic-concurrency revision: every write bumps it by one.
    pub revision: u64,
    /// Which road it takes.
    pub track: DeploymentTrack,
    /// Status.
    pub status: DeploymentStatus,
    /// The application set (entity of a Release).
    pub application_set: String,
    /// The application (PreRelease, Hotfix, Rollback).
    pub application: Option<String>,
    /// The bundle name (Release; Hotfix of a release branch).
    pub bundle: Option<String>,
    /// The version written to manifests: a semver tag, or the RC tag of a release.
    pub version: String,
    /// Release: the apps of the bundle.
    pub apps: BTreeMap<String, BundleApp>,
    /// Release: its phase.
    pub phase: Option<ReleasePhase>,
    /// Release: RC tags seen per `registry/image` while numbering.
    pub observed_tags: BTreeMap<String, Vec<String>>,
    /// The stages, copied from the track when created.
    pub stages: Vec<StageRecord>,
    /// The stage in progress (or the last one, once final).
    pub current_stage: usize,
    /// What CI built (PreRelease, Hotfix).
    pub build: Option<BuildRef>,
    /// Deduplication key of the notification that created it.
    pub dedup_key: Option<String>,
    /// Who requested it (Release, Rollback).
    pub requested_by: Option<String>,
    /// Authors of the change, who may not approve it when the track forbids it.
    pub authors: Vec<String>,
    /// Release: the versions last deployed to production when it started (app -> version).
    pub last_deployed_versions: BTreeMap<String, String>,
    /// Side effects decided but not yet confirmed (the outbox).
    pub outbox: Vec<PendingEffect>,
    /// Set while waiting for a retry after a side effect failed for good.
    pub parked: Option<Parked>,
    /// Events that could not be published after every retry.
    pub undelivered_events: u64,
    /// Number of events emitted so far (ids of the next ones continue from here).
    pub events_emitted: u64,
    /// Why it ended, when it ended badly.
    pub reason: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Creation order across the store, for stable listings.
    pub sequence: u64,
}

impl Deployment {
    /// The stage in progress.
    #[must_use]
    pub fn stage(&self) -> Option<&StageRecord> {
        self.stages.get(self.current_stage)
    }

    /// Whether a decision may still act on it: not final, or with effects in its outbox (a
    /// deployment that ended can still owe an event or a commit it already decided). A store
    /// keeps this beside the deployment so it can load the open ones without reading history.
    #[must_use]
    pub fn is_open(&self) -> bool {
        !self.status.is_final() || !self.outbox.is_empty()
    }

    /// Whether work it started is under way and cannot be taken back half-way: a promotion
    /// whose commit may be landing or deploying, or a release step (tags, branches) in its
    /// outbox. Not while it waits for a retry (parked), and not once it ended. What a cancel
    /// waits for.
    #[must_use]
    pub fn in_flight(&self) -> bool {
        self.parked.is_none()
            && !self.status.is_final()
            && (self
                .stages
                .iter()
                .any(|s| matches!(s.status, StageStatus::Promoting | StageStatus::Deploying))
                || self
                    .outbox
                    .iter()
                    .any(|p| !matches!(p.effect.kind, super::effect::EffectKind::Publish { .. })))
    }

    /// Why a retry does not apply to it, or `None` when it does: a deployment parked on a
    /// failed effect resumes, and a FAILED release starts a new attempt. What the core's retry
    /// and the Portal's Retry button both read.
    #[must_use]
    pub fn retry_refusal(&self) -> Option<&'static str> {
        if self.parked.is_some() {
            return None;
        }
        match (self.track, self.status) {
            (DeploymentTrack::Release, DeploymentStatus::Failed) => None,
            (_, DeploymentStatus::Failed) => {
                Some("the engine failed on this version; push a fix (a new build) or roll back")
            }
            (_, status) if status.is_final() => Some("it has ended"),
            _ => Some("it is not waiting for a retry"),
        }
    }

    /// Why a cancel does not apply to it, or `None` when it does: it waits, is parked or
    /// failed, with nothing [in flight](Deployment::in_flight). (A cancelled one takes a cancel
    /// again as a repeat.) What the core's cancel and the Portal's Cancel button both read.
    #[must_use]
    pub fn cancel_refusal(&self) -> Option<&'static str> {
        match self.status {
            DeploymentStatus::Succeeded | DeploymentStatus::Superseded => {
                Some("it has ended; roll back to undo a version")
            }
            // A promotion whose commit may be landing, or a release creating its tags and
            // branches, is in flight: what it does cannot be taken back half-way.
            _ if self.in_flight() => Some(
                "a promotion or a release step is in flight; wait for it (or for the engine's report)",
            ),
            _ => None,
        }
    }

    /// Applications this deployment writes: the bundle's apps, or its one application.
    #[must_use]
    pub fn applications(&self) -> Vec<&str> {
        match &self.application {
            Some(app) => vec![app.as_str()],
            None => self.apps.keys().map(String::as_str).collect(),
        }
    }
}

/// APPROVE or REJECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApprovalAction {
    /// Counts toward the quorum.
    Approve,
    /// Halts the stage; approvals before it stop counting.
    Reject,
    /// Ended the deployment ([`Input::CancelRequested`](super::Input::CancelRequested)): kept in
    /// the ledger like an approval, counting toward nothing.
    Cancel,
}

impl ApprovalAction {
    /// The spelling used in APIs and the ledger.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalAction::Approve => "APPROVE",
            ApprovalAction::Reject => "REJECT",
            ApprovalAction::Cancel => "CANCEL",
        }
    }

    /// The action spelled `text` as [`ApprovalAction::as_str`] spells it (stores keep that).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        [
            ApprovalAction::Approve,
            ApprovalAction::Reject,
            ApprovalAction::Cancel,
        ]
        .into_iter()
        .find(|a| a.as_str() == text)
    }
}

/// One entry of the append-only approval ledger (DeploymentApprovals).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecord {
    /// The deployment.
    pub deployment: DeploymentId,
    /// Unique within the deployment.
    pub approval_id: String,
    /// The stage it applies to.
    pub stage_index: usize,
    /// Who, as authenticated.
    pub actor: String,
    /// APPROVE or REJECT.
    pub action: ApprovalAction,
    /// Optional comment.
    pub comment: String,
    /// When (stores may replace it with their commit timestamp).
    pub at: Timestamp,
}

/// One changelog entry (DeploymentChangelogs).
///
/// CI sends entries without `application` and `version` (`infrastream-ci changelog --format
/// json` writes them so); the CD Manager fills both from the build they came with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangelogEntry {
    /// The application it is about.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub application: String,
    /// The version that carries it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Conventional-commit type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Scope, if any.
    pub scope: Option<String>,
    /// Description.
    pub description: String,
    /// A breaking change.
    pub breaking: bool,
    /// The commit.
    pub commit: Option<String>,
    /// The pull request number.
    pub pr: Option<u64>,
}

/// The document `infrastream-ci changelog --format json` prints: the range and its entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangelogDocument {
    /// The older tag (exclusive).
    pub from: String,
    /// The newer tag or commit (inclusive).
    pub to: String,
    /// The conventional commits of the range, oldest first.
    pub entries: Vec<ChangelogEntry>,
}

/// A changelog entry stored for a deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangelogRecord {
    /// The deployment.
    pub deployment: DeploymentId,
    /// Unique within the deployment.
    pub changelog_id: String,
    /// The entry.
    pub entry: ChangelogEntry,
}

/// A hold on an environment: promotions into it wait as HELD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    /// Why.
    pub reason: String,
    /// Who placed it.
    pub actor: String,
    /// When.
    pub at: Timestamp,
}

/// The version of an application in an environment, as this engine last wrote or claimed it.
///
/// A promotion claims the row (`in_flight`) before it writes, with a revision check, so two
/// managers can never push two versions into one environment at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVersion {
    /// The application.
    pub application: String,
    /// The environment.
    pub environment: String,
    /// The version written (or being written).
    pub version: String,
    /// The version before the write in flight, restored if the write never happens.
    pub previous: Option<String>,
    /// The deployment that wrote it.
    pub deployment: DeploymentId,
    /// Its track.
    pub track: DeploymentTrack,
    /// True while that deployment's commit is not confirmed.
    pub in_flight: bool,
    /// Revision for compare-and-set.
    pub revision: u64,
}

/// Everything the pipeline knows: what a store holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// Deployments by id.
    pub deployments: BTreeMap<DeploymentId, Deployment>,
    /// The approval ledger, in append order.
    pub approvals: Vec<ApprovalRecord>,
    /// Changelog entries, in append order.
    pub changelogs: Vec<ChangelogRecord>,
    /// Holds by environment.
    pub holds: BTreeMap<String, Hold>,
    /// Versions by [`env_key`] of (application, environment).
    pub env_versions: BTreeMap<String, EnvVersion>,
    /// Records derived from every deployment, by key (see [`records`](super::records)).
    #[serde(default)]
    pub records: BTreeMap<String, super::records::Record>,
}

/// The key of an application's version in an environment.
#[must_use]
pub fn env_key(application: &str, environment: &str) -> String {
    format!("{application}@{environment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_and_actions_read_back_as_written() {
        for t in [
            DeploymentTrack::PreRelease,
            DeploymentTrack::Release,
            DeploymentTrack::Hotfix,
            DeploymentTrack::Rollback,
        ] {
            assert_eq!(DeploymentTrack::parse(t.as_str()), Some(t));
            // JSON (the API, the stored documents) spells it as the events and stores do.
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
        }
        assert_eq!(
            serde_json::from_str::<DeploymentTrack>("\"PRE_RELEASE\"").unwrap(),
            DeploymentTrack::PreRelease,
            "the earlier JSON spelling is still read"
        );
        for a in [
            ApprovalAction::Approve,
            ApprovalAction::Reject,
            ApprovalAction::Cancel,
        ] {
            assert_eq!(ApprovalAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(DeploymentTrack::parse("PRE_RELEASE"), None);
        assert_eq!(ApprovalAction::parse("approve"), None);
    }
}
