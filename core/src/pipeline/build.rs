//! HandlePush: a CI build notification starts a PreRelease (or Hotfix) deployment.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::decide::Txn;
use super::input::BuildNotified;
use super::model::{
    BuildRef, ChangelogRecord, Deployment, DeploymentId, DeploymentStatus, DeploymentTrack,
    StageRecord, StageStatus,
};
use super::progress::version_order;
use super::reads::{build_applications, dedup_key};
use super::rejection::Rejection;
use crate::manifest::{Stage, Track};
use crate::version::{is_valid_image_tag, order_key};

/// `release/<appSet>/<bundle>` (with or without `refs/heads/`), as (set, bundle).
pub(super) fn release_branch(git_ref: &str) -> Option<(&str, &str)> {
    let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
    let rest = branch.strip_prefix("release/")?;
    let (set, bundle) = rest.split_once('/')?;
    (!set.is_empty() && !bundle.is_empty() && !bundle.contains('/')).then_some((set, bundle))
}

/// Stage records for a new deployment, copied from the track so later manifest edits do not
/// change a deployment in flight.
pub(super) fn stage_records(stages: &[Stage]) -> Vec<StageRecord> {
    stages
        .iter()
        .enumerate()
        .map(|(index, s)| StageRecord {
            index,
            environments: s.environments.clone(),
            approval: s.approval.clone(),
            status: StageStatus::Pending,
            commit_sha: None,
            run_id: None,
            started_at: None,
            finished_at: None,
            deadline: None,
            message: None,
        })
        .collect()
}

impl Txn<'_> {
    /// A fresh deployment with everything empty but what is given.
    pub(super) fn new_deployment(
        &mut self,
        track: DeploymentTrack,
        application_set: &str,
        application: Option<&str>,
        version: &str,
        stages: Vec<StageRecord>,
    ) -> Deployment {
        Deployment {
            id: DeploymentId(self.ids.next_id()),
            revision: 0,
            track,
            status: DeploymentStatus::Pending,
            application_set: application_set.to_string(),
            application: application.map(str::to_string),
            bundle: None,
            version: version.to_string(),
            apps: BTreeMap::new(),
            phase: None,
            observed_tags: BTreeMap::new(),
            stages,
            current_stage: 0,
            build: None,
            dedup_key: None,
            requested_by: None,
            authors: Vec::new(),
            last_deployed_versions: BTreeMap::new(),
            outbox: Vec::new(),
            parked: None,
            undelivered_events: 0,
            events_emitted: 0,
            reason: None,
            created_at: self.now,
            updated_at: self.now,
            sequence: self.next_sequence(application_set),
        }
    }

    pub(super) fn build_notified(&mut self, b: &BuildNotified) -> Result<(), Rejection> {
        if !is_valid_image_tag(&b.version) {
            return Err(Rejection::InvalidInput {
                field: "version",
                reason: format!("'{}' is not a valid image tag", b.version),
            });
        }
        // Versions never go back, so a build's version must be one the pipeline can order:
        // semver (what compute-version tags: vX.Y.Z and vX.Y.Z-<type>.<n>). A tag such as
        // `latest` never reaches a manifest.
        if order_key(&b.version).is_none() {
            return Err(Rejection::InvalidInput {
                field: "version",
                reason: format!(
                    "'{}' cannot be ordered against other versions: a build's version is semver (vX.Y.Z, or vX.Y.Z-<pre-release>)",
                    b.version
                ),
            });
        }
        let catalog = self.snap.catalog;
        // An ExternalApplication's versions arrive naming the application and its image.
        let apps = build_applications(catalog, &b.build_definition_id, &b.container);
        if apps.is_empty() {
            return Err(Rejection::UnknownBuild {
                build_definition: b.build_definition_id.clone(),
                container: b.container.clone(),
            });
        }
        let is_hotfix_version = b
            .version
            .strip_prefix('v')
            .and_then(|v| semver::Version::parse(v).ok())
            .is_some_and(|v| v.pre.as_str().starts_with("hotfix."));
        let branch = release_branch(&b.git_ref);
        let (track, deployment_track) = if is_hotfix_version || branch.is_some() {
            (Track::Hotfix, DeploymentTrack::Hotfix)
        } else {
            (Track::PreRelease, DeploymentTrack::PreRelease)
        };
        for app in apps {
            let key = dedup_key(&b.build_definition_id, &b.container, &b.version, app);
            if let Some(existing) = self
                .deployments()
                .into_iter()
                .find(|d| d.dedup_key.as_deref() == Some(key.as_str()))
            {
                let id = existing.id.clone();
                self.subjects.push(id);
                continue;
            }
            let Some(release_track) = catalog.track_of(app) else {
                return Err(Rejection::UnknownApplication(app.to_string()));
            };
            let set = catalog
                .applications
                .get(app)
                .map(|a| a.application_set.clone())
                .unwrap_or_default();
            let stages = stage_records(release_track.stages(track));
            let mut d = self.new_deployment(deployment_track, &set, Some(app), &b.version, stages);
            d.bundle = branch.map(|(_, bundle)| bundle.to_string());
            d.dedup_key = Some(key);
            d.authors = b.author.iter().cloned().collect();
            d.build = Some(BuildRef {
                build_definition: b.build_definition_id.clone(),
                container: b.container.clone(),
                commit_sha: b.commit_sha.clone(),
                repository: b.repository.clone(),
                git_ref: b.git_ref.clone(),
                digest: b.digest.clone(),
                author: b.author.clone(),
                committed_at: b.committed_at,
            });
            let id = d.id.clone();
            for entry in &b.changelog {
                let changelog_id = self.ids.next_id();
                let mut entry = entry.clone();
                entry.application = app.to_string();
                entry.version = b.version.clone();
                self.append_changelog(ChangelogRecord {
                    deployment: id.clone(),
                    changelog_id,
                    entry,
                });
            }
            self.create(d);
            self.supersede_around(&id, app, deployment_track);
            self.advance(&id);
        }
        Ok(())
    }

    /// A newer version supersedes older ones of the same app and track that are still waiting
    /// at a gate or have not started; a version older than a live one is superseded at once.
    fn supersede_around(&mut self, id: &DeploymentId, app: &str, track: DeploymentTrack) {
        let Some(version) = self.get(id).map(|d| d.version.clone()) else {
            return;
        };
        let others: Vec<(DeploymentId, String, bool)> = self
            .deployments()
            .into_iter()
            .filter(|d| {
                d.id != *id
                    && d.track == track
                    && d.application.as_deref() == Some(app)
                    && !d.status.is_final()
            })
            .map(|d| (d.id.clone(), d.version.clone(), waiting(d)))
            .collect();
        for (other, other_version, other_waiting) in others {
            match version_order(&version, &other_version) {
                Some(Ordering::Greater) if other_waiting => {
                    self.end(
                        &other,
                        DeploymentStatus::Superseded,
                        format!("superseded by {version}"),
                    );
                }
                Some(Ordering::Less) => {
                    self.end(
                        id,
                        DeploymentStatus::Superseded,
                        format!("{other_version} is newer"),
                    );
                    return;
                }
                _ => {}
            }
        }
    }
}

/// Not started, waiting on a human at its current stage, or parked on a failed effect (the
/// driver stopped working on it, so nothing of it is in flight).
fn waiting(d: &Deployment) -> bool {
    let not_started = d.stages.iter().all(|s| s.status == StageStatus::Pending);
    let gated = d.stage().is_some_and(|s| s.status.is_gated());
    not_started || gated || d.parked.is_some()
}
