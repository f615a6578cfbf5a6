//! A simulated engine: reacts to manifest commits like the real one (scoped to the files a
//! commit changed, addressed by the commit's trailers) and reports a status.

use std::collections::BTreeSet;

use cd_core::manifest::Catalog;
use cd_core::pipeline::{DeploymentId, DeploymentTrack, EngineStatus, Promotion, StatusReported};
use cd_ports::{ManifestRepo, RepoError, Store, StoreError};
use serde::{Deserialize, Serialize};

/// What the engine answers when nothing else is scripted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EngineMode {
    /// Every run succeeds.
    #[default]
    Success,
    /// Every run fails.
    Failed,
    /// Runs wait for an explicit answer.
    Manual,
}

/// One reconciliation the engine owes a report for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineRun {
    /// The commit reconciled.
    pub commit: String,
    /// From its `Infrastream-Deployment` trailer.
    pub deployment: DeploymentId,
    /// From its `Infrastream-Stage` trailer.
    pub stage: usize,
    /// The deployment's track.
    pub track: DeploymentTrack,
    /// The deployment's application set.
    pub application_set: String,
    /// Applications whose DeploymentConfigs the commit changed (the scope).
    pub applications: Vec<String>,
    /// Environments of those DeploymentConfigs.
    pub environments: Vec<String>,
}

/// Which runs an answer is for: an application (a PreRelease, Hotfix or Rollback) or an
/// application set (a release), in one environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunTarget {
    /// The application, for non-release runs.
    pub application: Option<String>,
    /// The application set, for release runs.
    pub application_set: Option<String>,
    /// The environment.
    pub environment: String,
}

impl RunTarget {
    fn matches(&self, run: &EngineRun) -> bool {
        let target = match (&self.application, &self.application_set) {
            (Some(app), _) => {
                run.track != DeploymentTrack::Release && run.applications.contains(app)
            }
            (None, Some(set)) => {
                run.track == DeploymentTrack::Release && run.application_set == *set
            }
            (None, None) => false,
        };
        target && run.environments.contains(&self.environment)
    }
}

/// The simulated engine.
#[derive(Debug, Default)]
pub struct SimEngine {
    mode: EngineMode,
    last_seen: Option<String>,
    pending: Vec<EngineRun>,
    scripted: Vec<(RunTarget, EngineStatus)>,
    runs: u64,
}

impl SimEngine {
    /// An engine answering `mode` by default.
    #[must_use]
    pub fn new(mode: EngineMode) -> Self {
        SimEngine {
            mode,
            ..Self::default()
        }
    }

    /// Runs waiting for a report.
    #[must_use]
    pub fn pending(&self) -> &[EngineRun] {
        &self.pending
    }

    /// Reads the commits made since the last poll; each one carrying promotion trailers becomes
    /// a run scoped to the DeploymentConfigs it changed.
    ///
    /// # Errors
    /// Repository and store failures.
    pub async fn poll(
        &mut self,
        repo: &dyn ManifestRepo,
        store: &dyn Store,
        catalog: &Catalog,
    ) -> Result<(), EngineError> {
        let commits = repo.commits_since(self.last_seen.as_deref()).await?;
        for commit in commits {
            self.last_seen = Some(commit.clone());
            let message = repo.message(&commit).await?;
            let Some(Promotion {
                deployment: DeploymentId(deployment),
                stage,
            }) = Promotion::parse(&message)
            else {
                continue;
            };
            let changed: BTreeSet<String> =
                repo.changed_files(&commit).await?.into_iter().collect();
            let (mut applications, mut environments) = (BTreeSet::new(), BTreeSet::new());
            for dc in catalog.deployment_configs.values() {
                if changed.contains(&dc.origin.file) {
                    applications.insert(dc.application.clone());
                    environments.insert(dc.environment.clone());
                }
            }
            let id = DeploymentId(deployment);
            let Some(view) = store.deployment(&id).await? else {
                continue;
            };
            self.pending.push(EngineRun {
                commit,
                deployment: id,
                stage,
                track: view.deployment.track,
                application_set: view.deployment.application_set,
                applications: applications.into_iter().collect(),
                environments: environments.into_iter().collect(),
            });
        }
        Ok(())
    }

    /// Answers the first pending run for `target` with `status`; when none is pending, the
    /// answer is kept for the next such run. Returns the report to deliver, if any.
    pub fn answer(&mut self, target: RunTarget, status: EngineStatus) -> Option<StatusReported> {
        match self.pending.iter().position(|r| target.matches(r)) {
            Some(i) => {
                let run = self.pending.remove(i);
                Some(self.report(&run, status))
            }
            None => {
                self.scripted.push((target, status));
                None
            }
        }
    }

    /// Reports for every pending run that has a scripted answer or, unless MANUAL, the default.
    pub fn due(&mut self) -> Vec<StatusReported> {
        let mut reports = Vec::new();
        let pending = std::mem::take(&mut self.pending);
        for run in pending {
            let scripted = self.scripted.iter().position(|(t, _)| t.matches(&run));
            let status = match (scripted, self.mode) {
                (Some(i), _) => Some(self.scripted.remove(i).1),
                (None, EngineMode::Success) => Some(EngineStatus::Success),
                (None, EngineMode::Failed) => Some(EngineStatus::Failed),
                (None, EngineMode::Manual) => None,
            };
            match status {
                Some(status) => reports.push(self.report(&run, status)),
                None => self.pending.push(run),
            }
        }
        reports
    }

    fn report(&mut self, run: &EngineRun, status: EngineStatus) -> StatusReported {
        self.runs += 1;
        StatusReported {
            deployment: run.deployment.clone(),
            stage_index: run.stage,
            status,
            run_id: format!("run-{}", self.runs),
            commit_sha: run.commit.clone(),
            message: match status {
                EngineStatus::Success => format!(
                    "reconciled {} in {}",
                    run.applications.join(", "),
                    run.environments.join(", ")
                ),
                EngineStatus::Failed => format!(
                    "reconciliation of {} in {} failed",
                    run.applications.join(", "),
                    run.environments.join(", ")
                ),
            },
        }
    }
}

/// Why the engine could not read what it reacts to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The manifest repository failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
