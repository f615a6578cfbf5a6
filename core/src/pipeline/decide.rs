//! `decide`: dispatch an input, then turn the working copies into writes and effects.

use std::collections::BTreeMap;

use super::decision::{Decision, StateWrite};
use super::effect::{Effect, EffectKind, PendingEffect};
use super::events;
use super::input::Input;
use super::model::{
    ApprovalRecord, ChangelogRecord, Deployment, DeploymentId, DeploymentStatus, EnvVersion, Hold,
    StageStatus, Timestamp, env_key,
};
use super::records::{Record, records_of};
use super::rejection::Rejection;
use super::{IdSource, Snapshot};

/// Decides what `input` does to the pipeline at time `now`.
///
/// Pure: the same snapshot, input, time and ids give the same decision. Never panics. The
/// crate documentation walks a build through it; here, a refusal:
///
/// ```
/// use cd_core::manifest::Catalog;
/// use cd_core::pipeline::{
///     BuildNotified, Input, Rejection, SequentialIds, Settings, Snapshot, State, Timestamp, decide,
/// };
///
/// let catalog = Catalog::default(); // a tenant with nothing in it
/// let state = State::default();
/// let snapshot = Snapshot { catalog: &catalog, state: &state, settings: &Settings::default() };
/// let build = Input::BuildNotified(BuildNotified {
///     build_definition_id: "api".into(),
///     container: "api".into(),
///     version: "v1.0.0".into(),
///     ..BuildNotified::default()
/// });
/// let refused = decide(&snapshot, &build, Timestamp(0), &mut SequentialIds::new("d-", 1));
/// assert!(matches!(refused, Err(Rejection::UnknownBuild { .. })));
/// ```
///
/// # Errors
/// A [`Rejection`] when the input is refused; nothing is written then.
pub fn decide(
    snapshot: &Snapshot<'_>,
    input: &Input,
    now: Timestamp,
    ids: &mut dyn IdSource,
) -> Result<Decision, Rejection> {
    let mut tx = Txn {
        snap: *snapshot,
        now,
        ids,
        work: BTreeMap::new(),
        approvals: Vec::new(),
        changelogs: Vec::new(),
        holds: BTreeMap::new(),
        envs: BTreeMap::new(),
        subjects: Vec::new(),
    };
    match input {
        Input::BuildNotified(b) => tx.build_notified(b)?,
        Input::ReleaseRequested(r) => tx.release_requested(r)?,
        Input::StatusReported(s) => tx.status_reported(s)?,
        Input::ApprovalRecorded(a) => tx.approval_recorded(a)?,
        Input::RetryRequested { deployment, actor } => tx.retry(deployment, actor)?,
        Input::CancelRequested {
            deployment,
            actor,
            comment,
        } => tx.cancel(deployment, actor, comment)?,
        Input::RollbackRequested {
            application,
            environment,
            version,
            actor,
        } => tx.rollback(application, environment, version, actor)?,
        Input::HoldPlaced {
            environment,
            reason,
            actor,
        } => tx.hold_placed(environment, reason, actor)?,
        Input::HoldLifted { environment, .. } => tx.hold_lifted(environment),
        Input::EffectCompleted {
            deployment,
            effect_id,
            outcome,
        } => tx.effect_completed(deployment, effect_id, outcome)?,
        Input::EffectFailed {
            deployment,
            effect_id,
            error,
            permanent,
        } => tx.effect_failed(deployment, effect_id, error, *permanent)?,
        Input::Tick => tx.tick(),
    }
    Ok(tx.finish())
}

/// The working set of one decision: copies of what it changes, over the snapshot.
pub(super) struct Txn<'a> {
    pub(super) snap: Snapshot<'a>,
    pub(super) now: Timestamp,
    pub(super) ids: &'a mut dyn IdSource,
    work: BTreeMap<DeploymentId, Deployment>,
    approvals: Vec<ApprovalRecord>,
    changelogs: Vec<ChangelogRecord>,
    holds: BTreeMap<String, Option<Hold>>,
    envs: BTreeMap<String, EnvVersion>,
    pub(super) subjects: Vec<DeploymentId>,
}

impl Txn<'_> {
    /// A deployment as this decision sees it.
    pub(super) fn get(&self, id: &DeploymentId) -> Option<&Deployment> {
        self.work
            .get(id)
            .or_else(|| self.snap.state.deployments.get(id))
    }

    /// A deployment to change (copied into the working set on first touch).
    pub(super) fn touch(&mut self, id: &DeploymentId) -> Option<&mut Deployment> {
        if !self.work.contains_key(id) {
            let d = self.snap.state.deployments.get(id)?.clone();
            self.work.insert(id.clone(), d);
        }
        self.work.get_mut(id)
    }

    /// Adds a new deployment.
    pub(super) fn create(&mut self, d: Deployment) {
        self.subjects.push(d.id.clone());
        self.work.insert(d.id.clone(), d);
    }

    /// Ids of every deployment in view, in creation order.
    pub(super) fn deployment_ids(&self) -> Vec<DeploymentId> {
        let mut all: Vec<(u64, Timestamp, DeploymentId)> = self
            .snap
            .state
            .deployments
            .values()
            .filter(|d| !self.work.contains_key(&d.id))
            .chain(self.work.values())
            .map(|d| (d.sequence, d.created_at, d.id.clone()))
            .collect();
        all.sort();
        all.into_iter().map(|(_, _, id)| id).collect()
    }

    /// Every deployment in view, in creation order.
    pub(super) fn deployments(&self) -> Vec<&Deployment> {
        self.deployment_ids()
            .iter()
            .filter_map(|id| self.get(id))
            .collect()
    }

    /// The next creation sequence number in an application set: above its record and every
    /// deployment of the set in view.
    pub(super) fn next_sequence(&self, application_set: &str) -> u64 {
        self.snap
            .state
            .deployments
            .values()
            .chain(self.work.values())
            .filter(|d| d.application_set == application_set)
            .map(|d| d.sequence)
            .chain([self.snap.state.recorded_sequence(application_set)])
            .max()
            .map_or(1, |s| s + 1)
    }

    pub(super) fn hold(&self, environment: &str) -> Option<&Hold> {
        match self.holds.get(environment) {
            Some(change) => change.as_ref(),
            None => self.snap.state.holds.get(environment),
        }
    }

    pub(super) fn set_hold(&mut self, environment: &str, hold: Option<Hold>) {
        self.holds.insert(environment.to_string(), hold);
    }

    pub(super) fn env_version(&self, application: &str, environment: &str) -> Option<&EnvVersion> {
        let key = env_key(application, environment);
        self.envs
            .get(&key)
            .or_else(|| self.snap.state.env_versions.get(&key))
    }

    pub(super) fn put_env_version(&mut self, value: EnvVersion) {
        self.envs
            .insert(env_key(&value.application, &value.environment), value);
    }

    /// Approvals of one stage, in ledger order.
    pub(super) fn approvals_of(&self, id: &DeploymentId, stage: usize) -> Vec<&ApprovalRecord> {
        self.snap
            .state
            .approvals
            .iter()
            .chain(self.approvals.iter())
            .filter(|a| a.deployment == *id && a.stage_index == stage)
            .collect()
    }

    pub(super) fn append_approval(&mut self, record: ApprovalRecord) {
        self.approvals.push(record);
    }

    pub(super) fn append_changelog(&mut self, record: ChangelogRecord) {
        self.changelogs.push(record);
    }

    /// Changelog entries of a deployment, stored or new.
    pub(super) fn changelog_of(&self, id: &DeploymentId) -> Vec<&ChangelogRecord> {
        self.snap
            .state
            .changelogs
            .iter()
            .chain(self.changelogs.iter())
            .filter(|c| c.deployment == *id)
            .collect()
    }

    /// Queues an effect in a deployment's outbox (once: a repeated id is ignored).
    pub(super) fn enqueue(&mut self, id: &DeploymentId, effect_id: String, kind: EffectKind) {
        if let Some(d) = self.touch(id) {
            if d.outbox.iter().any(|p| p.effect.id == effect_id) {
                return;
            }
            d.outbox.push(PendingEffect {
                effect: Effect {
                    id: effect_id,
                    deployment: id.clone(),
                    kind,
                },
                parked: false,
            });
        }
    }

    /// Turns the working set into a decision.
    fn finish(self) -> Decision {
        let Txn {
            snap,
            now,
            work,
            approvals,
            changelogs,
            holds,
            envs,
            subjects,
            ..
        } = self;
        let mut decision = Decision {
            deployments: subjects,
            ..Decision::default()
        };
        // Per key, the highest of the records this decision raises.
        let mut records: BTreeMap<String, Record> = BTreeMap::new();
        for (id, mut d) in work {
            let old = snap.state.deployments.get(&id);
            if old == Some(&d) {
                continue;
            }
            events::emit(old, &mut d, snap.settings, now);
            d.revision = old.map_or(1, |o| o.revision + 1);
            d.updated_at = now;
            for pending in d.outbox.iter().filter(|p| !p.parked) {
                let was_ready = old.is_some_and(|o| {
                    o.outbox
                        .iter()
                        .any(|p| p.effect.id == pending.effect.id && !p.parked)
                });
                if !was_ready {
                    decision.effects.push(pending.effect.clone());
                }
            }
            // The records this deployment raises, when they changed: they follow from the old
            // and the new deployment alone, so every snapshot of the same deployment agrees.
            let before = old.map(records_of).unwrap_or_default();
            let raised: Vec<_> = records_of(&d)
                .into_iter()
                .filter(|r| !before.contains(r))
                .collect();
            decision.writes.push(StateWrite::PutDeployment {
                expected_revision: old.map(|o| o.revision),
                deployment: Box::new(d),
            });
            for (key, record) in raised {
                match records.get(&key) {
                    Some(kept) if kept.rank >= record.rank => {}
                    _ => {
                        records.insert(key, record);
                    }
                }
            }
        }
        decision.writes.extend(
            records
                .into_iter()
                .map(|(key, record)| StateWrite::RaiseRecord { key, record }),
        );
        for (key, mut value) in envs {
            let old = snap.state.env_versions.get(&key);
            if old.is_some_and(|o| {
                o.version == value.version
                    && o.in_flight == value.in_flight
                    && o.deployment == value.deployment
                    && o.previous == value.previous
            }) {
                continue;
            }
            value.revision = old.map_or(1, |o| o.revision + 1);
            decision.writes.push(StateWrite::PutEnvVersion {
                expected_revision: old.map(|o| o.revision),
                value,
            });
        }
        decision
            .writes
            .extend(approvals.into_iter().map(StateWrite::AppendApproval));
        decision
            .writes
            .extend(changelogs.into_iter().map(StateWrite::AppendChangelog));
        for (environment, change) in holds {
            let old = snap.state.holds.get(&environment);
            match change {
                Some(hold) if old != Some(&hold) => {
                    decision
                        .writes
                        .push(StateWrite::PutHold { environment, hold });
                }
                None if old.is_some() => {
                    decision.writes.push(StateWrite::RemoveHold { environment });
                }
                _ => {}
            }
        }
        decision
    }
}

/// The status a live deployment shows, from where it stands.
pub(super) fn refresh_status(d: &mut Deployment) {
    if d.status.is_final() {
        return;
    }
    d.status = if d.parked.is_some() {
        DeploymentStatus::Pending
    } else {
        match d.stage().map(|s| s.status) {
            Some(StageStatus::AwaitingApproval) => DeploymentStatus::AwaitingApproval,
            Some(StageStatus::Rejected) => DeploymentStatus::Rejected,
            Some(StageStatus::Pending)
                if d.stages.iter().all(|s| s.status == StageStatus::Pending) =>
            {
                DeploymentStatus::Pending
            }
            _ => DeploymentStatus::InProgress,
        }
    };
}
