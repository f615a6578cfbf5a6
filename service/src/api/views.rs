//! What the reads answer: views built from the stored model for people and their tools, typed
//! in the OpenAPI document. The pipeline's bookkeeping (the outbox, revisions, observed tags,
//! event counters) stays in the store: a client can neither see nor come to depend on it.
//!
//! Field names are the model's, so a view reads like the deployment it shows. Times are
//! milliseconds since the Unix epoch, as the model keeps them.

use std::collections::BTreeMap;

use cd_core::pipeline::{
    ApprovalAction, ApprovalRecord, BuildRef, BundleApp, ChangelogRecord, Deployment,
    DeploymentStatus, DeploymentTrack, GateNeeds, Hold, ReleasePhase, StageRecord, StageStatus,
    Viewer,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::wire::{Status, Track};

impl From<DeploymentTrack> for Track {
    fn from(t: DeploymentTrack) -> Self {
        match t {
            DeploymentTrack::PreRelease => Track::PreRelease,
            DeploymentTrack::Release => Track::Release,
            DeploymentTrack::Hotfix => Track::Hotfix,
            DeploymentTrack::Rollback => Track::Rollback,
        }
    }
}

impl From<DeploymentStatus> for Status {
    fn from(s: DeploymentStatus) -> Self {
        match s {
            DeploymentStatus::Pending => Status::Pending,
            DeploymentStatus::InProgress => Status::InProgress,
            DeploymentStatus::AwaitingApproval => Status::AwaitingApproval,
            DeploymentStatus::Succeeded => Status::Succeeded,
            DeploymentStatus::Failed => Status::Failed,
            DeploymentStatus::Rejected => Status::Rejected,
            DeploymentStatus::Superseded => Status::Superseded,
            DeploymentStatus::Cancelled => Status::Cancelled,
        }
    }
}

/// Where a stage stands.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StageState {
    /// Not reached yet, or queued behind another promotion into the same environment.
    Pending,
    /// Its approval quorum is not met yet.
    AwaitingApproval,
    /// Its gate is met, but an environment of the stage is on hold.
    Held,
    /// The manifest commit is being written.
    Promoting,
    /// Committed; waiting for the engine's report.
    Deploying,
    /// The engine reported success.
    Succeeded,
    /// The engine reported failure, or did not report in time.
    Failed,
    /// An approver rejected it; a later approval may resume it.
    Rejected,
    /// Its deployment was cancelled or superseded.
    Cancelled,
}

impl From<StageStatus> for StageState {
    fn from(s: StageStatus) -> Self {
        match s {
            StageStatus::Pending => StageState::Pending,
            StageStatus::AwaitingApproval => StageState::AwaitingApproval,
            StageStatus::Held => StageState::Held,
            StageStatus::Promoting => StageState::Promoting,
            StageStatus::Deploying => StageState::Deploying,
            StageStatus::Succeeded => StageState::Succeeded,
            StageStatus::Failed => StageState::Failed,
            StageStatus::Rejected => StageState::Rejected,
            StageStatus::Cancelled => StageState::Cancelled,
        }
    }
}

/// A stage's gate, as the track set it when the deployment was created.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateView {
    /// How many distinct approvers it needs.
    pub min_approvals: u32,
    /// The stakeholder groups, by name or email.
    pub groups: Vec<String>,
}

/// One stage of a deployment.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageView {
    /// Position, from 0.
    pub index: usize,
    /// Environments deployed together.
    pub environments: Vec<String>,
    /// Its gate, if any.
    pub approval: Option<GateView>,
    /// Where it stands.
    pub status: StageState,
    /// The manifest commit that promoted it.
    pub commit_sha: Option<String>,
    /// The engine run that reconciled it.
    pub run_id: Option<String>,
    /// When it was reached (ms since the epoch).
    pub started_at: Option<i64>,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// When the engine must report by, while deploying.
    pub deadline: Option<i64>,
    /// The engine's or the pipeline's latest word on it.
    pub message: Option<String>,
}

impl From<&StageRecord> for StageView {
    fn from(s: &StageRecord) -> Self {
        StageView {
            index: s.index,
            environments: s.environments.clone(),
            approval: s.approval.as_ref().map(|p| GateView {
                min_approvals: p.min_approvals,
                groups: p.groups.clone(),
            }),
            status: s.status.into(),
            commit_sha: s.commit_sha.clone(),
            run_id: s.run_id.clone(),
            started_at: s.started_at.map(|t| t.0),
            finished_at: s.finished_at.map(|t| t.0),
            deadline: s.deadline.map(|t| t.0),
            message: s.message.clone(),
        }
    }
}

/// One application of a release bundle.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleAppView {
    /// The version the bundle carries.
    pub version: String,
    /// The image.
    pub image: String,
    /// The registries holding it.
    pub registries: Vec<String>,
    /// The source repository.
    pub repository: Option<String>,
    /// Where the release branch points, once created.
    pub branch_commit: Option<String>,
    /// The production tag, once the release completed.
    pub production_tag: Option<String>,
}

impl From<&BundleApp> for BundleAppView {
    fn from(a: &BundleApp) -> Self {
        BundleAppView {
            version: a.version.clone(),
            image: a.image.clone(),
            registries: a.registries.clone(),
            repository: a.repository.clone(),
            branch_commit: a.branch_commit.clone(),
            production_tag: a.production_tag.clone(),
        }
    }
}

/// What CI built.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildView {
    /// The BuildDefinition (or ExternalApplication).
    pub build_definition: String,
    /// The image.
    pub container: String,
    /// The commit built.
    pub commit_sha: String,
    /// The source repository.
    pub repository: String,
    /// The git ref built.
    pub git_ref: String,
    /// The image digest, when CI sent it.
    pub digest: Option<String>,
    /// The change's author, when CI sent it.
    pub author: Option<String>,
    /// When the commit built was made (ms since the epoch), when CI sent it.
    pub committed_at: Option<i64>,
}

impl From<&BuildRef> for BuildView {
    fn from(b: &BuildRef) -> Self {
        BuildView {
            build_definition: b.build_definition.clone(),
            container: b.container.clone(),
            commit_sha: b.commit_sha.clone(),
            repository: b.repository.clone(),
            git_ref: b.git_ref.clone(),
            digest: b.digest.clone(),
            author: b.author.clone(),
            committed_at: b.committed_at.map(|t| t.0),
        }
    }
}

/// Where a release stands between its stages.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Phase {
    /// Numbering its RC tag.
    ResolvingRc,
    /// Creating its release branches.
    BranchingRc,
    /// Creating its RC tags.
    TaggingRc,
    /// Running its stages.
    Stages,
    /// Naming its production tags.
    ResolvingProduction,
    /// Creating its production tags.
    TaggingProduction,
    /// Done.
    Done,
}

impl From<ReleasePhase> for Phase {
    fn from(p: ReleasePhase) -> Self {
        match p {
            ReleasePhase::ResolvingRc => Phase::ResolvingRc,
            ReleasePhase::BranchingRc => Phase::BranchingRc,
            ReleasePhase::TaggingRc => Phase::TaggingRc,
            ReleasePhase::Stages => Phase::Stages,
            ReleasePhase::ResolvingProduction => Phase::ResolvingProduction,
            ReleasePhase::TaggingProduction => Phase::TaggingProduction,
            ReleasePhase::Done => Phase::Done,
        }
    }
}

/// A deployment as people read it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSummary {
    /// Its id.
    pub id: String,
    /// Which road it takes.
    pub track: Track,
    /// Where it stands.
    pub status: Status,
    /// The application set.
    pub application_set: String,
    /// The application (builds, hotfixes, rollbacks).
    pub application: Option<String>,
    /// The bundle (releases).
    pub bundle: Option<String>,
    /// The version written to the manifests (a release's RC tag).
    pub version: String,
    /// A release's applications and their versions.
    pub apps: BTreeMap<String, BundleAppView>,
    /// A release's phase.
    pub phase: Option<Phase>,
    /// The stages.
    pub stages: Vec<StageView>,
    /// The stage in progress (the last one, once ended).
    pub current_stage: usize,
    /// What CI built.
    pub build: Option<BuildView>,
    /// Who asked for it (releases, rollbacks).
    pub requested_by: Option<String>,
    /// The change's authors.
    pub authors: Vec<String>,
    /// A release: the versions production ran when it started.
    pub last_deployed_versions: BTreeMap<String, String>,
    /// Why it waits for a retry, when a side effect failed for good.
    pub parked: Option<String>,
    /// Side effects decided and not yet confirmed (commits, tags, events): 0 once the
    /// deployment has nothing left in flight.
    pub pending_effects: usize,
    /// Events that could not be published.
    pub undelivered_events: u64,
    /// Why it ended, when it ended badly.
    pub reason: Option<String>,
    /// When it was created (ms since the epoch).
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

impl From<&Deployment> for DeploymentSummary {
    fn from(d: &Deployment) -> Self {
        DeploymentSummary {
            id: d.id.0.clone(),
            track: d.track.into(),
            status: d.status.into(),
            application_set: d.application_set.clone(),
            application: d.application.clone(),
            bundle: d.bundle.clone(),
            version: d.version.clone(),
            apps: d.apps.iter().map(|(k, v)| (k.clone(), v.into())).collect(),
            phase: d.phase.map(Into::into),
            stages: d.stages.iter().map(Into::into).collect(),
            current_stage: d.current_stage,
            build: d.build.as_ref().map(Into::into),
            requested_by: d.requested_by.clone(),
            authors: d.authors.clone(),
            last_deployed_versions: d.last_deployed_versions.clone(),
            parked: d.parked.as_ref().map(|p| p.error.clone()),
            pending_effects: d.outbox.len(),
            undelivered_events: d.undelivered_events,
            reason: d.reason.clone(),
            created_at: d.created_at.0,
            updated_at: d.updated_at.0,
        }
    }
}

/// An entry of the ledger's actions.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LedgerAction {
    /// Counted toward the quorum.
    Approve,
    /// Stopped the stage.
    Reject,
    /// Ended the deployment.
    Cancel,
}

/// One row of the append-only approval ledger.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    /// Its id, unique within the deployment.
    pub approval_id: String,
    /// The stage it is about.
    pub stage_index: usize,
    /// Who, as authenticated.
    pub actor: String,
    /// What they did.
    pub action: LedgerAction,
    /// Why.
    pub comment: String,
    /// When (ms since the epoch).
    pub at: i64,
}

impl From<&ApprovalRecord> for LedgerEntry {
    fn from(a: &ApprovalRecord) -> Self {
        LedgerEntry {
            approval_id: a.approval_id.clone(),
            stage_index: a.stage_index,
            actor: a.actor.clone(),
            action: match a.action {
                ApprovalAction::Approve => LedgerAction::Approve,
                ApprovalAction::Reject => LedgerAction::Reject,
                ApprovalAction::Cancel => LedgerAction::Cancel,
            },
            comment: a.comment.clone(),
            at: a.at.0,
        }
    }
}

/// One conventional commit the deployment carries.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangelogView {
    /// The application.
    pub application: String,
    /// The version that carries it.
    pub version: String,
    /// The conventional-commit type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The scope.
    pub scope: Option<String>,
    /// The description.
    pub description: String,
    /// A breaking change.
    pub breaking: bool,
    /// The commit.
    pub commit: Option<String>,
    /// The pull request.
    pub pr: Option<u64>,
}

impl From<&ChangelogRecord> for ChangelogView {
    fn from(c: &ChangelogRecord) -> Self {
        let e = &c.entry;
        ChangelogView {
            application: e.application.clone(),
            version: e.version.clone(),
            kind: e.kind.clone(),
            scope: e.scope.clone(),
            description: e.description.clone(),
            breaking: e.breaking,
            commit: e.commit.clone(),
            pr: e.pr,
        }
    }
}

/// What a gate waiting on people still needs.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateNeedsView {
    /// The gated stage.
    pub stage: usize,
    /// Its environments.
    pub environments: Vec<String>,
    /// `AWAITING_APPROVAL`, or `REJECTED` (a later approval may resume it).
    pub status: StageState,
    /// The stakeholder groups.
    pub groups: Vec<String>,
    /// How many distinct approvers it needs.
    pub min_approvals: u32,
    /// Who has approved (approvals before a rejection do not count).
    pub approved_by: Vec<String>,
    /// How many more approvals it needs.
    pub remaining: u32,
    /// Who rejected it, when it stands rejected.
    pub rejected_by: Option<String>,
    /// Whether the caller may approve or reject it.
    pub you_may_approve: bool,
    /// Why not, when they may not.
    pub why_not: Option<String>,
}

impl From<GateNeeds> for GateNeedsView {
    fn from(g: GateNeeds) -> Self {
        let (may, why) = match g.viewer {
            Some(Viewer::May) => (true, None),
            Some(Viewer::MayNot(why)) => (false, Some(why)),
            None => (false, None),
        };
        GateNeedsView {
            stage: g.stage,
            environments: g.environments,
            status: g.status.into(),
            groups: g.groups,
            min_approvals: g.min_approvals,
            approved_by: g.approved_by,
            remaining: g.remaining,
            rejected_by: g.rejected_by,
            you_may_approve: may,
            why_not: why,
        }
    }
}

/// One deployment with its ledger, its changelog and what its gate needs.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDetail {
    /// The deployment.
    pub deployment: DeploymentSummary,
    /// Its approval ledger, in ledger order.
    pub approvals: Vec<LedgerEntry>,
    /// Its changelog.
    pub changelog: Vec<ChangelogView>,
    /// What its gate still needs, when its current stage waits on people.
    pub gate: Option<GateNeedsView>,
}

/// A gate waiting on the caller.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingApproval {
    /// The deployment.
    pub deployment: DeploymentSummary,
    /// What its gate needs.
    pub gate: GateNeedsView,
}

/// A hold on an environment.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HoldView {
    /// Why.
    pub reason: String,
    /// Who placed it.
    pub actor: String,
    /// When (ms since the epoch).
    pub at: i64,
}

impl From<&Hold> for HoldView {
    fn from(h: &Hold) -> Self {
        HoldView {
            reason: h.reason.clone(),
            actor: h.actor.clone(),
            at: h.at.0,
        }
    }
}
