//! HandleDeploymentStatus, effect outcomes and timers.

use super::decide::{Txn, refresh_status};
use super::effect::{EffectKind, EffectOutcome};
use super::input::{EngineStatus, StatusReported};
use super::model::{DeploymentId, DeploymentStatus, DeploymentTrack, Parked, StageStatus};
use super::progress::write_effect_id;
use super::rejection::Rejection;

impl Txn<'_> {
    pub(super) fn status_reported(&mut self, s: &StatusReported) -> Result<(), Rejection> {
        self.subjects.push(s.deployment.clone());
        let d = self
            .get(&s.deployment)
            .ok_or_else(|| Rejection::UnknownDeployment(s.deployment.clone()))?;
        let stage = d.stages.get(s.stage_index).ok_or(Rejection::UnknownStage {
            deployment: s.deployment.clone(),
            stage: s.stage_index,
        })?;
        if d.status.is_final() {
            return Ok(());
        }
        let id = s.deployment.clone();
        let index = s.stage_index;
        match stage.status {
            StageStatus::Deploying
                if stage.commit_sha.as_deref() == Some(s.commit_sha.as_str()) => {}
            StageStatus::Promoting => {
                // The engine saw our commit before we recorded it (a crash between push and
                // record): its trailers prove the commit is ours, so take it as confirmed.
                let effect_id = write_effect_id(&id, index);
                if let Some(d) = self.touch(&id) {
                    d.outbox.retain(|p| p.effect.id != effect_id);
                    if d.parked.as_ref().is_some_and(|p| p.effect_id == effect_id) {
                        d.parked = None;
                    }
                    if let Some(st) = d.stages.get_mut(index) {
                        st.commit_sha = Some(s.commit_sha.clone());
                    }
                }
                self.release_claims(&id, index, true);
            }
            // Stale (an older commit), duplicate (already final) or premature: nothing changes.
            _ => return Ok(()),
        }
        let now = self.now;
        if let Some(d) = self.touch(&id) {
            if let Some(st) = d.stages.get_mut(index) {
                st.run_id = (!s.run_id.is_empty()).then(|| s.run_id.clone());
                st.message = (!s.message.is_empty()).then(|| s.message.clone());
                st.finished_at = Some(now);
                st.deadline = None;
                st.status = match s.status {
                    EngineStatus::Success => StageStatus::Succeeded,
                    EngineStatus::Failed => StageStatus::Failed,
                };
            }
            refresh_status(d);
        }
        if s.status == EngineStatus::Failed {
            self.end(
                &id,
                DeploymentStatus::Failed,
                format!("stage {index} failed: {}", s.message),
            );
        }
        self.advance(&id);
        self.advance_others(Some(&id));
        Ok(())
    }

    /// Effect `effect_id` of deployment `id` as its outbox holds it: its kind, whether it is
    /// parked, and whether the deployment has ended; `None` when the outbox no longer holds it.
    /// Both outcomes of an effect start here.
    fn outboxed(
        &mut self,
        id: &DeploymentId,
        effect_id: &str,
    ) -> Result<Option<(EffectKind, bool, bool)>, Rejection> {
        self.subjects.push(id.clone());
        let d = self
            .get(id)
            .ok_or_else(|| Rejection::UnknownDeployment(id.clone()))?;
        let finished = d.status.is_final();
        Ok(d.outbox
            .iter()
            .find(|p| p.effect.id == effect_id)
            .map(|p| (p.effect.kind.clone(), p.parked, finished)))
    }

    pub(super) fn effect_completed(
        &mut self,
        id: &DeploymentId,
        effect_id: &str,
        outcome: &EffectOutcome,
    ) -> Result<(), Rejection> {
        let Some((kind, _, finished)) = self.outboxed(id, effect_id)? else {
            return Ok(()); // A repeat, or an effect dropped when the deployment ended.
        };
        let mismatch = || Rejection::InvalidInput {
            field: "outcome",
            reason: format!("does not answer a {} effect", kind.name()),
        };
        let now = self.now;
        let timeout = self.snap.settings.engine_timeout_ms;
        let mut settle: Option<(usize, bool)> = None;
        let mut missing_tag = None;
        {
            let Some(d) = self.touch(id) else {
                return Ok(());
            };
            match (&kind, outcome) {
                (EffectKind::ListTags { registry, image }, EffectOutcome::Tags { tags }) => {
                    if d.track == DeploymentTrack::Rollback && !tags.contains(&d.version) {
                        missing_tag = Some(format!(
                            "tag {} does not exist for {image} in {registry}",
                            d.version
                        ));
                    }
                    d.observed_tags
                        .insert(format!("{registry}/{image}"), tags.clone());
                }
                (EffectKind::TagImage { .. }, EffectOutcome::Tagged { .. })
                | (EffectKind::CreateRelease { .. }, EffectOutcome::Released)
                | (EffectKind::Publish { .. }, EffectOutcome::Published) => {}
                (EffectKind::CreateBranch { .. }, EffectOutcome::BranchAt { commit }) => {
                    let app = effect_id.rsplit('/').next().unwrap_or_default();
                    if let Some(a) = d.apps.get_mut(app) {
                        a.branch_commit = Some(commit.clone());
                    }
                }
                (EffectKind::WriteManifests { stage, .. }, EffectOutcome::Committed { commit }) => {
                    settle = Some((*stage, true));
                    if let Some(st) = d.stages.get_mut(*stage) {
                        if !finished && st.status == StageStatus::Promoting {
                            match commit {
                                Some(c) => {
                                    st.commit_sha = Some(c.clone());
                                    st.status = StageStatus::Deploying;
                                    st.deadline = Some(now.plus_ms(timeout));
                                }
                                None => {
                                    // Already at the version: nothing for the engine to do.
                                    st.status = StageStatus::Succeeded;
                                    st.finished_at = Some(now);
                                    st.message = Some("manifests already at this version".into());
                                }
                            }
                        } else if let Some(c) = commit {
                            st.commit_sha.get_or_insert_with(|| c.clone());
                        }
                    }
                }
                _ => return Err(mismatch()),
            }
            d.outbox.retain(|p| p.effect.id != effect_id);
            refresh_status(d);
        }
        if let Some((stage, committed)) = settle {
            self.release_claims(id, stage, committed);
        }
        if let Some(reason) = missing_tag {
            self.end(id, DeploymentStatus::Failed, reason);
        }
        self.advance(id);
        if settle.is_some() {
            self.advance_others(Some(id));
        }
        Ok(())
    }

    pub(super) fn effect_failed(
        &mut self,
        id: &DeploymentId,
        effect_id: &str,
        error: &str,
        permanent: bool,
    ) -> Result<(), Rejection> {
        let Some((kind, parked, finished)) = self.outboxed(id, effect_id)? else {
            return Ok(()); // A repeat, or an effect dropped when the deployment ended.
        };
        if parked {
            return Ok(());
        }
        if matches!(kind, EffectKind::Publish { .. }) {
            // Events are informational: a lost one never blocks a deployment.
            if let Some(d) = self.touch(id) {
                d.outbox.retain(|p| p.effect.id != effect_id);
                d.undelivered_events += 1;
            }
            return Ok(());
        }
        let write_stage = match kind {
            EffectKind::WriteManifests { stage, .. } => Some(stage),
            _ => None,
        };
        if permanent || finished {
            if let Some(d) = self.touch(id) {
                d.outbox.retain(|p| p.effect.id != effect_id);
            }
            if let Some(stage) = write_stage {
                self.release_claims(id, stage, false);
            }
            self.end(id, DeploymentStatus::Failed, error.to_string());
            self.advance_others(Some(id));
            return Ok(());
        }
        if let Some(d) = self.touch(id) {
            if let Some(p) = d.outbox.iter_mut().find(|p| p.effect.id == effect_id) {
                p.parked = true;
            }
            d.parked = Some(Parked {
                effect_id: effect_id.to_string(),
                error: error.to_string(),
            });
            refresh_status(d);
        }
        Ok(())
    }

    /// Engine deadlines that passed fail their stage.
    pub(super) fn tick(&mut self) {
        let now = self.now;
        let late: Vec<(DeploymentId, usize)> = self
            .deployments()
            .into_iter()
            .filter(|d| !d.status.is_final())
            .filter_map(|d| d.stage().map(|s| (d, s)))
            .filter(|(_, s)| {
                s.status == StageStatus::Deploying && s.deadline.is_some_and(|t| t <= now)
            })
            .map(|(d, s)| (d.id.clone(), s.index))
            .collect();
        for (id, index) in late {
            let minutes = self.snap.settings.engine_timeout_ms / 60_000;
            if let Some(d) = self.touch(&id)
                && let Some(st) = d.stages.get_mut(index)
            {
                st.status = StageStatus::Failed;
                st.finished_at = Some(now);
                st.deadline = None;
                st.message = Some(format!("the engine did not report within {minutes} min"));
            }
            self.end(
                &id,
                DeploymentStatus::Failed,
                format!("stage {index}: the engine did not report in time"),
            );
            self.subjects.push(id);
        }
    }
}
