//! ProcessPipeline: move a deployment forward as far as it can go without waiting on anyone.

use std::cmp::Ordering;

use super::decide::{Txn, refresh_status};
use super::effect::{EffectKind, ManifestEdit};
use super::model::{
    DeploymentId, DeploymentStatus, DeploymentTrack, EnvVersion, ReleasePhase, StageStatus,
};
use crate::manifest::ApprovalPolicy;
use crate::version::suffix_number;

/// How an effect id names a deployment's stage commit.
pub(super) fn write_effect_id(id: &DeploymentId, stage: usize) -> String {
    format!("{id}/stage-{stage}/write")
}

/// Orders two versions of one application when they are comparable: semver tags by semver,
/// RC tags of one bundle by their number. Anything else is not comparable.
pub(super) fn version_order(a: &str, b: &str) -> Option<Ordering> {
    let semver = |v: &str| semver::Version::parse(v.strip_prefix('v').unwrap_or(v)).ok();
    if let (Some(x), Some(y)) = (semver(a), semver(b)) {
        return Some(x.cmp(&y));
    }
    let rc = |v: &str| {
        let at = v.rfind("-rc.")?;
        let n = suffix_number(v.get(at..)?, "-rc.")?;
        Some((v.get(..at)?.to_string(), n))
    };
    match (rc(a), rc(b)) {
        (Some((pa, na)), Some((pb, nb))) if pa == pb => Some(na.cmp(&nb)),
        _ => None,
    }
}

impl Txn<'_> {
    /// Moves a deployment forward until it waits on an effect, the engine, a human or a hold.
    pub(super) fn advance(&mut self, id: &DeploymentId) {
        // Each pass either returns or moves to a later stage, so this bound is never reached.
        for _ in 0..=self.get(id).map_or(0, |d| d.stages.len() + 4) {
            let Some(d) = self.get(id) else { return };
            if d.status.is_final()
                || d.parked.is_some()
                || d.outbox
                    .iter()
                    .any(|p| !matches!(p.effect.kind, EffectKind::Publish { .. }))
            {
                return;
            }
            if d.track == DeploymentTrack::Release && d.phase != Some(ReleasePhase::Stages) {
                if !self.release_phase_step(id) {
                    return;
                }
                continue;
            }
            let Some(stage) = d.stage() else {
                self.complete(id);
                return;
            };
            match stage.status {
                StageStatus::Pending => {
                    self.enter_stage(id);
                    return;
                }
                StageStatus::Held => {
                    self.try_promote(id);
                    return;
                }
                StageStatus::Succeeded => {
                    let last = d.current_stage + 1 >= d.stages.len();
                    if last {
                        self.complete(id);
                        return;
                    }
                    if let Some(d) = self.touch(id) {
                        d.current_stage += 1;
                    }
                }
                StageStatus::Failed => {
                    if let Some(d) = self.touch(id) {
                        d.status = DeploymentStatus::Failed;
                    }
                    return;
                }
                StageStatus::AwaitingApproval
                | StageStatus::Rejected
                | StageStatus::Promoting
                | StageStatus::Deploying
                | StageStatus::Cancelled => return,
            }
        }
    }

    /// Advances every live deployment but `except`: after a promotion finishes or a hold lifts,
    /// queued and held stages may go.
    pub(super) fn advance_others(&mut self, except: Option<&DeploymentId>) {
        for other in self.deployment_ids() {
            if Some(&other) != except && self.get(&other).is_some_and(|d| !d.status.is_final()) {
                self.advance(&other);
            }
        }
    }

    /// The gate: distinct stakeholders approving after the last REJECT reach the quorum.
    pub(super) fn gate_met(
        &self,
        id: &DeploymentId,
        stage: usize,
        policy: &ApprovalPolicy,
    ) -> bool {
        let ledger = self.approvals_of(id, stage);
        let approvers = super::gate::counted_approvers(self.snap.catalog, policy, ledger);
        approvers.len() >= policy.min_approvals as usize
    }

    /// Reaching a stage: the gate first, then holds, then the promotion.
    fn enter_stage(&mut self, id: &DeploymentId) {
        let now = self.now;
        let Some(d) = self.get(id) else { return };
        let Some(stage) = d.stage() else { return };
        let index = stage.index;
        if let Some(policy) = stage.approval.clone()
            && !self.gate_met(id, index, &policy)
        {
            if let Some(d) = self.touch(id) {
                if let Some(s) = d.stages.get_mut(index) {
                    s.status = StageStatus::AwaitingApproval;
                    s.started_at.get_or_insert(now);
                }
                refresh_status(d);
            }
            return;
        }
        self.try_promote(id);
    }

    /// Promotes the current stage unless an environment is held or busy with another
    /// promotion, or the environment already runs a newer version.
    pub(super) fn try_promote(&mut self, id: &DeploymentId) {
        let now = self.now;
        let Some(d) = self.get(id) else { return };
        let Some(stage) = d.stage() else { return };
        let index = stage.index;
        let environments = stage.environments.clone();
        let version = d.version.clone();
        let track = d.track;
        let apps: Vec<String> = d.applications().into_iter().map(str::to_string).collect();

        if environments.iter().any(|e| self.hold(e).is_some()) {
            if let Some(d) = self.touch(id) {
                if let Some(s) = d.stages.get_mut(index) {
                    s.status = StageStatus::Held;
                }
                refresh_status(d);
            }
            return;
        }
        let mut edits = Vec::new();
        let mut claims = Vec::new();
        for app in &apps {
            for env in &environments {
                let current = self.env_version(app, env);
                if current.is_some_and(|c| c.in_flight && c.deployment != *id) {
                    // Queued behind another promotion into the same environment.
                    if let Some(d) = self.touch(id) {
                        if let Some(s) = d.stages.get_mut(index) {
                            s.status = StageStatus::Pending;
                        }
                        refresh_status(d);
                    }
                    return;
                }
                if track != DeploymentTrack::Rollback
                    && let Some(c) = current
                    && version_order(&version, &c.version) == Some(Ordering::Less)
                {
                    let reason = format!(
                        "{env} already runs {} of {app}, newer than {version}",
                        c.version
                    );
                    self.end(id, DeploymentStatus::Superseded, reason);
                    return;
                }
                let Some(dc) = self.snap.catalog.deployment_config(app, env) else {
                    let reason = format!("no DeploymentConfig for {app} in {env}");
                    self.end(id, DeploymentStatus::Failed, reason);
                    return;
                };
                edits.push(ManifestEdit {
                    path: dc.origin.file.clone(),
                    application: app.clone(),
                    environment: env.clone(),
                    version: version.clone(),
                });
                claims.push(EnvVersion {
                    application: app.clone(),
                    environment: env.clone(),
                    version: version.clone(),
                    previous: current.map(|c| c.version.clone()),
                    deployment: id.clone(),
                    track,
                    in_flight: true,
                    revision: current.map_or(0, |c| c.revision),
                });
            }
        }
        for claim in claims {
            self.put_env_version(claim);
        }
        let subject = match apps.as_slice() {
            [one] => one.clone(),
            _ => self
                .get(id)
                .map(|d| d.application_set.clone())
                .unwrap_or_default(),
        };
        let message = super::trailer::ManifestCommit::promotion(
            &format!(
                "deploy({subject}): {version} to {}",
                environments.join(", ")
            ),
            super::trailer::Promotion {
                deployment: id.clone(),
                stage: index,
            },
        )
        .message;
        if let Some(d) = self.touch(id) {
            if let Some(s) = d.stages.get_mut(index) {
                s.status = StageStatus::Promoting;
                s.started_at.get_or_insert(now);
            }
            refresh_status(d);
        }
        self.enqueue(
            id,
            write_effect_id(id, index),
            EffectKind::WriteManifests {
                edits,
                message,
                deployment: id.clone(),
                stage: index,
            },
        );
    }

    /// Every stage succeeded: a release goes on to its production tags, others are done.
    fn complete(&mut self, id: &DeploymentId) {
        let Some(d) = self.touch(id) else { return };
        if d.track == DeploymentTrack::Release {
            d.phase = Some(ReleasePhase::ResolvingProduction);
            d.observed_tags.clear();
            let lists: Vec<(String, String)> = d
                .apps
                .values()
                .flat_map(|a| a.registries.iter().map(|r| (r.clone(), a.image.clone())))
                .collect();
            for (registry, image) in lists {
                self.enqueue(
                    id,
                    format!("{id}/production/list/{registry}/{image}"),
                    EffectKind::ListTags { registry, image },
                );
            }
            self.advance(id);
        } else {
            d.status = DeploymentStatus::Succeeded;
        }
    }

    /// Ends a live deployment: stages not finished are cancelled, effects not in flight dropped,
    /// and claims of environments it never wrote are released.
    pub(super) fn end(&mut self, id: &DeploymentId, status: DeploymentStatus, reason: String) {
        let now = self.now;
        let mut released = Vec::new();
        if let Some(d) = self.touch(id) {
            if d.status.is_final() {
                return;
            }
            d.status = status;
            d.reason = Some(reason);
            d.parked = None;
            let promoting: Vec<usize> = d
                .stages
                .iter()
                .filter(|s| s.status == StageStatus::Promoting)
                .map(|s| s.index)
                .collect();
            for s in &mut d.stages {
                if !s.status.is_final() {
                    s.status = if status == DeploymentStatus::Failed && s.index == d.current_stage {
                        StageStatus::Failed
                    } else {
                        StageStatus::Cancelled
                    };
                    s.finished_at.get_or_insert(now);
                }
            }
            // A commit being pushed may still land: its effect stays so the outcome is recorded.
            // A parked one is not in flight: it goes, and its claims are released.
            d.outbox.retain(|p| match &p.effect.kind {
                EffectKind::Publish { .. } => true,
                EffectKind::WriteManifests { stage, .. } => !p.parked && promoting.contains(stage),
                _ => false,
            });
            let kept: Vec<usize> = d
                .outbox
                .iter()
                .filter_map(|p| match &p.effect.kind {
                    EffectKind::WriteManifests { stage, .. } => Some(*stage),
                    _ => None,
                })
                .collect();
            released = promoting
                .into_iter()
                .filter(|s| !kept.contains(s))
                .collect();
        }
        for stage in released {
            self.release_claims(id, stage, false);
        }
    }

    /// Settles the environment claims of a stage: `committed` keeps the new version, otherwise
    /// the previous one is restored.
    pub(super) fn release_claims(&mut self, id: &DeploymentId, stage: usize, committed: bool) {
        let Some(d) = self.get(id) else { return };
        let Some(s) = d.stages.get(stage) else { return };
        let pairs: Vec<(String, String)> = d
            .applications()
            .into_iter()
            .flat_map(|a| {
                s.environments
                    .iter()
                    .map(move |e| (a.to_string(), e.clone()))
            })
            .collect();
        let mut freed = false;
        for (app, env) in pairs {
            let Some(current) = self.env_version(&app, &env).cloned() else {
                continue;
            };
            if current.deployment != *id || !current.in_flight {
                continue;
            }
            let mut next = current;
            next.in_flight = false;
            if !committed {
                // No previous version means none is known: an empty version compares with nothing.
                next.version = next.previous.clone().unwrap_or_default();
            }
            self.put_env_version(next);
            freed = true;
        }
        if freed && !committed {
            // Promotions queued behind these claims may go now. (After a commit, the caller
            // advances everyone.)
            self.advance_others(Some(id));
        }
    }
}
