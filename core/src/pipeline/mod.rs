//! The CD Manager's state machine: PreRelease, Release, Hotfix and Rollback deployments, their
//! stages, approval gates, holds, RC and production tags.
//!
//! # How a driver calls it
//!
//! There is one entry point, [`decide`]: `(snapshot, input, now, ids) -> Decision | Rejection`.
//!
//! 1. Load a [`Snapshot`]: the catalog (manifests at the repository head), the [`State`]
//!    (from the store) and the [`Settings`].
//! 2. Call [`decide`]. A [`Rejection`] writes nothing: report it to whoever sent the input.
//! 3. Commit `decision.writes` in one transaction, checking revisions (see [`State::apply`],
//!    the reference semantics). On a conflict, reload and decide again.
//! 4. Only then perform `decision.effects`, each idempotent, retrying transient failures.
//!    Feed each outcome back as [`Input::EffectCompleted`] or [`Input::EffectFailed`].
//! 5. After a crash, call [`pending_effects`] on the stored state and perform them again: the
//!    outbox of every deployment is the stored intent.
//! 6. Call [`decide`] with [`Input::Tick`] no later than [`next_deadline`] (or the earliest of
//!    the [`Decision::deadlines`] seen since the state was last read).

mod build;
mod decide;
mod decision;
mod effect;
mod events;
mod gate;
mod input;
mod model;
mod operate;
mod progress;
mod reads;
mod records;
mod rejection;
mod release;
mod report;
mod requirements;
mod trailer;

use serde::{Deserialize, Serialize};

pub use decide::decide;
pub use decision::{ApplyError, Decision, StateWrite};
pub use effect::{CloudEvent, Effect, EffectKind, EffectOutcome, ManifestEdit, PendingEffect};
pub use gate::{GateNeeds, Viewer, approver_refusal, awaits, counted_approvers, gate_needs};
pub use input::{
    ApprovalRecorded, BuildNotified, EngineStatus, Input, ReleaseRequested, StatusReported,
};
pub use model::{
    ApprovalAction, ApprovalRecord, BuildRef, BundleApp, ChangelogDocument, ChangelogEntry,
    ChangelogRecord, Deployment, DeploymentId, DeploymentStatus, DeploymentTrack, EnvVersion, Hold,
    Parked, ReleasePhase, StageRecord, StageStatus, State, Timestamp, env_key,
};
pub use reads::{
    ReadPlan, Reads, VersionRange, build_applications, changelog_ranges, dedup_key, reads_for,
};
pub use records::{Record, RecordValue, passed_key, records_of, released_key, sequence_key};
pub use rejection::Rejection;
pub use requirements::{Requirement, requirements};
pub use trailer::{DEPLOYMENT_TRAILER, ManifestCommit, Promotion, STAGE_TRAILER};

use crate::manifest::Catalog;

/// Policy the operator configures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// A stage whose engine has not reported this long after the commit fails.
    pub engine_timeout_ms: i64,
    /// ReleaseTracks on which the author of a change may not approve it.
    pub forbid_author_approval: Vec<String>,
    /// Create a GitHub release with the changelog when a release completes.
    pub create_releases: bool,
    /// The CloudEvents `source` of events.
    pub event_source: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            engine_timeout_ms: 30 * 60 * 1000,
            forbid_author_approval: Vec::new(),
            create_releases: false,
            event_source: "/infrastream/cd-manager".to_string(),
        }
    }
}

/// Everything a decision reads.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot<'a> {
    /// The manifests at the head of the manifest repository.
    pub catalog: &'a Catalog,
    /// The pipeline state.
    pub state: &'a State,
    /// Operator policy.
    pub settings: &'a Settings,
}

/// Where new ids come from. The core never makes ids itself, so a seeded source gives
/// reproducible runs and a service can use UUIDs.
pub trait IdSource {
    /// A new id, never returned before.
    fn next_id(&mut self) -> String;
}

/// Ids `<prefix>1`, `<prefix>2`, ...: deterministic, for tests and the simulator.
#[derive(Clone, Debug, Default)]
pub struct SequentialIds {
    prefix: String,
    next: u64,
}

impl SequentialIds {
    /// Ids `<prefix><n>`, counting from `first`.
    #[must_use]
    pub fn new(prefix: &str, first: u64) -> Self {
        SequentialIds {
            prefix: prefix.to_string(),
            next: first,
        }
    }
}

impl IdSource for SequentialIds {
    fn next_id(&mut self) -> String {
        let id = format!("{}{}", self.prefix, self.next);
        self.next += 1;
        id
    }
}

/// Every effect waiting in an outbox and not parked: what a restarted driver must perform.
#[must_use]
pub fn pending_effects(state: &State) -> Vec<Effect> {
    state
        .deployments
        .values()
        .flat_map(|d| {
            d.outbox
                .iter()
                .filter(|p| !p.parked)
                .map(|p| p.effect.clone())
        })
        .collect()
}

/// The earliest time a [`Input::Tick`] has work to do (an engine deadline), if any.
#[must_use]
pub fn next_deadline(state: &State) -> Option<Timestamp> {
    deadlines(state.deployments.values()).min()
}

/// The engine deadlines among `deployments`: the times at which an [`Input::Tick`] will fail a
/// stage still waiting on the engine. A driver that sees every decision keeps these (from
/// [`Decision::deadlines`]) instead of loading the whole state to find the next one.
pub fn deadlines<'a>(
    deployments: impl IntoIterator<Item = &'a Deployment>,
) -> impl Iterator<Item = Timestamp> {
    deployments
        .into_iter()
        .filter(|d| !d.status.is_final())
        .filter_map(Deployment::stage)
        .filter(|s| s.status == StageStatus::Deploying)
        .filter_map(|s| s.deadline)
}
