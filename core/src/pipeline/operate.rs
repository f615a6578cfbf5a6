//! What humans do: approve, reject, retry, roll back, hold and lift.

use super::decide::{Txn, refresh_status};
use super::effect::EffectKind;
use super::input::ApprovalRecorded;
use super::model::{
    ApprovalAction, ApprovalRecord, DeploymentId, DeploymentStatus, DeploymentTrack, Hold,
    StageRecord, StageStatus,
};
use super::rejection::Rejection;
use crate::version::is_valid_image_tag;

impl Txn<'_> {
    pub(super) fn approval_recorded(&mut self, a: &ApprovalRecorded) -> Result<(), Rejection> {
        if a.action == ApprovalAction::Cancel {
            // cancel_is_not_a_verdict: a cancel ends the deployment, through CancelRequested.
            return Err(Rejection::InvalidInput {
                field: "action",
                reason: "CANCEL is not a verdict on a gate: cancel the deployment instead".into(),
            });
        }
        let catalog = self.snap.catalog;
        let d = self
            .get(&a.deployment)
            .ok_or_else(|| Rejection::UnknownDeployment(a.deployment.clone()))?;
        let stage = d.stages.get(a.stage_index).ok_or(Rejection::UnknownStage {
            deployment: a.deployment.clone(),
            stage: a.stage_index,
        })?;
        let policy = stage.approval.clone().ok_or(Rejection::NoGate {
            deployment: a.deployment.clone(),
            stage: a.stage_index,
        })?;
        if d.status.is_final() || !stage.status.is_gated() {
            // A redelivered action (a client's retry, a request sent to two replicas) after
            // the gate opened: the ledger already holds it, and the stage cannot change.
            let who = catalog.identity(&a.actor);
            let recorded = self
                .approvals_of(&a.deployment, a.stage_index)
                .iter()
                .any(|r| catalog.identity(&r.actor) == who && r.action == a.action);
            if recorded {
                self.subjects.push(a.deployment.clone());
                return Ok(());
            }
            return Err(Rejection::NotAwaitingApproval {
                deployment: a.deployment.clone(),
                stage: a.stage_index,
                status: stage.status,
            });
        }
        if let Some(refusal) = super::gate::approver_refusal(
            catalog,
            self.snap.settings,
            d,
            a.stage_index,
            &policy,
            &a.actor,
        ) {
            return Err(refusal);
        }
        let who = catalog.identity(&a.actor);
        self.subjects.push(a.deployment.clone());
        let repeated = self
            .approvals_of(&a.deployment, a.stage_index)
            .last()
            .is_some_and(|last| {
                catalog.identity(&last.actor) == who
                    && last.action == a.action
                    && last.comment == a.comment
            });
        if repeated {
            // A redelivered action: the ledger already says exactly this, last.
            return Ok(());
        }
        let approval_id = self.ids.next_id();
        self.append_approval(ApprovalRecord {
            deployment: a.deployment.clone(),
            approval_id,
            stage_index: a.stage_index,
            actor: a.actor.clone(),
            action: a.action,
            comment: a.comment.clone(),
            at: self.now,
        });
        let id = a.deployment.clone();
        let index = a.stage_index;
        match a.action {
            // Recorded by CancelRequested only (it is not a verdict on a gate); refused above
            // (`cancel_is_not_a_verdict`) before anything is appended.
            ApprovalAction::Cancel => {}
            ApprovalAction::Reject => {
                if let Some(d) = self.touch(&id) {
                    if let Some(s) = d.stages.get_mut(index) {
                        s.status = StageStatus::Rejected;
                    }
                    refresh_status(d);
                }
            }
            ApprovalAction::Approve => {
                let status = stage_status(self.get(&id), index);
                if self.gate_met(&id, index, &policy) {
                    // The gate is evaluated before the hold: a held stage stays HELD.
                    if status != Some(StageStatus::Held) {
                        self.try_promote(&id);
                    }
                } else if status == Some(StageStatus::Rejected)
                    && let Some(d) = self.touch(&id)
                {
                    if let Some(s) = d.stages.get_mut(index) {
                        s.status = StageStatus::AwaitingApproval;
                    }
                    refresh_status(d);
                }
            }
        }
        Ok(())
    }

    pub(super) fn retry(&mut self, id: &DeploymentId, actor: &str) -> Result<(), Rejection> {
        let d = self
            .get(id)
            .ok_or_else(|| Rejection::UnknownDeployment(id.clone()))?;
        let not = |reason| Rejection::NotRetryable {
            deployment: id.clone(),
            status: d.status,
            reason,
        };
        if let Some(reason) = d.retry_refusal() {
            return Err(not(reason));
        }
        if d.parked.is_some() {
            // A parked promotion into an environment held since then waits for the hold.
            let held_writes: Vec<(String, usize)> = d
                .outbox
                .iter()
                .filter_map(|p| match &p.effect.kind {
                    EffectKind::WriteManifests { edits, stage, .. }
                        if edits.iter().any(|e| self.hold(&e.environment).is_some()) =>
                    {
                        Some((p.effect.id.clone(), *stage))
                    }
                    _ => None,
                })
                .collect();
            if let Some(d) = self.touch(id) {
                d.parked = None;
                for p in &mut d.outbox {
                    p.parked = false;
                }
                for (effect_id, stage) in &held_writes {
                    d.outbox.retain(|p| p.effect.id != *effect_id);
                    if let Some(s) = d.stages.get_mut(*stage) {
                        s.status = StageStatus::Held;
                    }
                }
                refresh_status(d);
            }
            for (_, stage) in held_writes {
                self.release_claims(id, stage, false);
            }
            self.subjects.push(id.clone());
            self.advance(id);
            return Ok(());
        }
        // Not parked, so (by `retry_refusal`) a FAILED release: a new attempt.
        let set = d.application_set.clone();
        let bundle = d.bundle.clone().unwrap_or_default();
        let versions = d
            .apps
            .iter()
            .map(|(a, b)| (a.clone(), b.version.clone()))
            .collect();
        let newest = self
            .deployments()
            .into_iter()
            .filter(|o| {
                o.track == DeploymentTrack::Release
                    && o.application_set == set
                    && o.bundle.as_deref() == Some(bundle.as_str())
                    && o.sequence > d.sequence
            })
            .max_by_key(|o| o.sequence);
        if let Some(newest) = newest {
            // Retried already: the newest attempt is the answer (an attempt between
            // may have failed and been retried in turn).
            self.subjects.push(newest.id.clone());
            return Ok(());
        }
        let catalog = self.snap.catalog;
        if catalog
            .application_sets
            .get(&set)
            .and_then(|s| catalog.release_tracks.get(&s.release_track))
            .is_none()
        {
            return Err(not(
                "its application set or release track is no longer in the manifests",
            ));
        }
        self.start_attempt(&set, &bundle, versions, actor);
        Ok(())
    }

    pub(super) fn cancel(
        &mut self,
        id: &DeploymentId,
        actor: &str,
        comment: &str,
    ) -> Result<(), Rejection> {
        let d = self
            .get(id)
            .ok_or_else(|| Rejection::UnknownDeployment(id.clone()))?;
        let not = |reason| Rejection::NotCancellable {
            deployment: id.clone(),
            status: d.status,
            reason,
        };
        // A repeat: the ledger holds the cancel already.
        if d.status == DeploymentStatus::Cancelled {
            self.subjects.push(id.clone());
            return Ok(());
        }
        if let Some(reason) = d.cancel_refusal() {
            return Err(not(reason));
        }
        let stage_index = d.current_stage;
        let failed = d.status == DeploymentStatus::Failed;
        let approval_id = self.ids.next_id();
        self.append_approval(ApprovalRecord {
            deployment: id.clone(),
            approval_id,
            stage_index,
            actor: actor.to_string(),
            action: ApprovalAction::Cancel,
            comment: comment.to_string(),
            at: self.now,
        });
        self.subjects.push(id.clone());
        let reason = if comment.is_empty() {
            format!("cancelled by {actor}")
        } else {
            format!("cancelled by {actor}: {comment}")
        };
        if failed {
            // Already ended and its claims released: it only changes how it is remembered
            // (not to be retried).
            if let Some(d) = self.touch(id) {
                d.status = DeploymentStatus::Cancelled;
                d.reason = Some(reason);
            }
        } else {
            self.end(id, DeploymentStatus::Cancelled, reason);
        }
        // Promotions queued behind what it claimed may go now.
        self.advance_others(Some(id));
        Ok(())
    }

    pub(super) fn rollback(
        &mut self,
        application: &str,
        environment: &str,
        version: &str,
        actor: &str,
    ) -> Result<(), Rejection> {
        let catalog = self.snap.catalog;
        let app = catalog
            .applications
            .get(application)
            .ok_or_else(|| Rejection::UnknownApplication(application.to_string()))?;
        if catalog
            .deployment_config(application, environment)
            .is_none()
        {
            return Err(Rejection::UnknownEnvironment {
                application: application.to_string(),
                environment: environment.to_string(),
            });
        }
        if !is_valid_image_tag(version) {
            return Err(Rejection::InvalidInput {
                field: "version",
                reason: format!("'{version}' is not a valid image tag"),
            });
        }
        let live = self.deployments().into_iter().find(|d| {
            d.track == DeploymentTrack::Rollback
                && !d.status.is_final()
                && d.application.as_deref() == Some(application)
                && d.version == version
                && d.stages
                    .first()
                    .is_some_and(|s| s.environments == [environment])
        });
        if let Some(live) = live {
            self.subjects.push(live.id.clone());
            return Ok(());
        }
        let stage = StageRecord {
            index: 0,
            environments: vec![environment.to_string()],
            approval: None,
            status: StageStatus::Pending,
            commit_sha: None,
            run_id: None,
            started_at: None,
            finished_at: None,
            deadline: None,
            message: None,
        };
        let set = app.application_set.clone();
        let mut d = self.new_deployment(
            DeploymentTrack::Rollback,
            &set,
            Some(application),
            version,
            vec![stage],
        );
        d.requested_by = Some(actor.to_string());
        let id = d.id.clone();
        self.create(d);
        // The tag must exist before any manifest names it.
        if let Some(image) = catalog.image_of(application) {
            for registry in image.registries {
                self.enqueue(
                    &id,
                    format!("{id}/verify/{registry}/{}", image.name),
                    EffectKind::ListTags {
                        registry: registry.clone(),
                        image: image.name.to_string(),
                    },
                );
            }
        }
        self.advance(&id);
        Ok(())
    }

    pub(super) fn hold_placed(
        &mut self,
        environment: &str,
        reason: &str,
        actor: &str,
    ) -> Result<(), Rejection> {
        if !self.snap.catalog.environments.contains_key(environment) {
            return Err(Rejection::NoSuchEnvironment(environment.to_string()));
        }
        if self
            .hold(environment)
            .is_some_and(|h| h.reason == reason && h.actor == actor)
        {
            return Ok(());
        }
        self.set_hold(
            environment,
            Some(Hold {
                reason: reason.to_string(),
                actor: actor.to_string(),
                at: self.now,
            }),
        );
        Ok(())
    }

    pub(super) fn hold_lifted(&mut self, environment: &str) {
        if self.hold(environment).is_none() {
            return;
        }
        self.set_hold(environment, None);
        self.advance_others(None);
    }
}

fn stage_status(d: Option<&super::Deployment>, index: usize) -> Option<StageStatus> {
    d.and_then(|d| d.stages.get(index)).map(|s| s.status)
}
