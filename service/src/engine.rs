//! The engine runner: the seed's Engine with scoped execution. It follows the manifest branch,
//! and for each new commit runs the configured command once per DeploymentConfig the commit
//! changed (nothing else is touched), then reports the result to the status webhook for the
//! deployment and stage named in the commit's trailers.
//!
//! Delivery is at least once: the last reported commit is recorded only after its report is
//! accepted, so a crash in between runs the command again. Commands must be idempotent, as
//! `kubectl apply`, `helm upgrade --install` and `terraform apply` are.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cd_core::manifest::Catalog;
use cd_core::pipeline::{DeploymentId, EngineStatus, Input, StatusReported};
use cd_git::{GitConfig, GitRepo};
use cd_ports::{DriverError, ManifestRepo, trailers};
use tokio::sync::watch;

use crate::error::StartError;
use crate::service::Shared;

/// Why a report was not delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The manager refused it (stale, unknown deployment): retrying cannot help.
    #[error("refused: {0}")]
    Refused(String),
    /// The manager could not be reached: retried on the next poll.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Where reports go.
#[async_trait]
pub trait Reporter: Send + Sync + 'static {
    /// Delivers one report.
    ///
    /// # Errors
    /// [`ReportError`].
    async fn report(&self, report: &StatusReported) -> Result<(), ReportError>;
}

/// Reports straight into the service the engine runs in.
#[derive(Debug)]
pub struct InProcess(pub Arc<Shared>);

#[async_trait]
impl Reporter for InProcess {
    async fn report(&self, report: &StatusReported) -> Result<(), ReportError> {
        match self
            .0
            .driver
            .submit(&Input::StatusReported(report.clone()))
            .await
        {
            Ok(decision) => {
                self.0.enqueue(decision.effects);
                self.0
                    .observe_stage(&report.deployment, report.stage_index)
                    .await;
                Ok(())
            }
            Err(DriverError::Rejected(r)) => Err(ReportError::Refused(r.to_string())),
            Err(e) => Err(ReportError::Unavailable(e.to_string())),
        }
    }
}

/// Reports to a manager's status webhook, signed with the shared secret.
#[derive(Debug)]
pub struct Webhook {
    client: reqwest::Client,
    server: String,
    secret: Vec<u8>,
}

impl Webhook {
    /// Reports to `server` (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(server: &str, secret: Vec<u8>) -> Result<Self, StartError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| StartError::Io(e.to_string()))?;
        Ok(Webhook {
            client,
            server: server.trim_end_matches('/').to_string(),
            secret,
        })
    }
}

#[async_trait]
impl Reporter for Webhook {
    async fn report(&self, r: &StatusReported) -> Result<(), ReportError> {
        let body = serde_json::json!({
            "stageIndex": r.stage_index,
            "status": r.status,
            "commitSha": r.commit_sha,
            "runId": r.run_id,
            "message": r.message,
        })
        .to_string();
        let response = self
            .client
            .post(format!(
                "{}/v1/deployments/{}/status",
                self.server, r.deployment
            ))
            .header("content-type", "application/json")
            .header(
                crate::auth::SIGNATURE_HEADER,
                crate::auth::sign(&self.secret, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| ReportError::Unavailable(e.to_string()))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(())
        } else if status.is_client_error() && status.as_u16() != 401 && status.as_u16() != 429 {
            Err(ReportError::Refused(format!("{status}: {text}")))
        } else {
            Err(ReportError::Unavailable(format!("{status}: {text}")))
        }
    }
}

/// One DeploymentConfig a commit changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The application.
    pub application: String,
    /// The environment.
    pub environment: String,
    /// Its `spec.version` at the commit.
    pub version: String,
    /// The file, relative to the repository root.
    pub file: String,
}

/// Follows a manifest branch and runs a command per changed DeploymentConfig.
pub struct EngineRunner {
    repo: GitRepo,
    state_file: PathBuf,
    command: Option<String>,
    reporter: Box<dyn Reporter>,
}

impl std::fmt::Debug for EngineRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineRunner")
            .field("repo", &self.repo)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

impl EngineRunner {
    /// A runner with its own clone of `remote` in `workdir`.
    ///
    /// # Errors
    /// When the remote cannot be cloned.
    pub fn new(
        remote: &str,
        branch: &str,
        workdir: &Path,
        command: Option<String>,
        reporter: Box<dyn Reporter>,
    ) -> Result<Self, StartError> {
        let mut git = GitConfig::new(remote, workdir);
        git.branch = branch.to_string();
        let repo = GitRepo::open(git)?;
        Ok(EngineRunner {
            repo,
            state_file: workdir.with_extension("last-commit"),
            command,
            reporter,
        })
    }

    /// A runner on the service's own manifest remote.
    ///
    /// # Errors
    /// As [`EngineRunner::new`].
    pub fn open(
        config: &crate::config::Config,
        workdir: &Path,
        command: Option<String>,
        reporter: Box<dyn Reporter>,
    ) -> Result<Self, StartError> {
        let mut config = config.clone();
        config.manifests.seed = false;
        let repo = crate::local::open_manifests(&config, &[], workdir)?;
        let remote = repo.config().remote.clone();
        drop(repo);
        Self::new(
            &remote,
            &config.manifests.branch,
            workdir,
            command,
            reporter,
        )
    }

    fn last(&self) -> Option<String> {
        std::fs::read_to_string(&self.state_file)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    fn remember(&self, commit: &str) -> Result<(), String> {
        let tmp = self.state_file.with_extension("tmp");
        std::fs::write(&tmp, commit)
            .and_then(|()| std::fs::rename(&tmp, &self.state_file))
            .map_err(|e| format!("{}: {e}", self.state_file.display()))
    }

    /// The DeploymentConfigs `commit` changed, as they are at that commit.
    ///
    /// # Errors
    /// When the repository cannot be read.
    pub async fn targets(&self, commit: &str) -> Result<Vec<Target>, String> {
        let mut targets = Vec::new();
        for file in self
            .repo
            .changed_files(commit)
            .await
            .map_err(|e| e.to_string())?
        {
            if !(file.ends_with(".yaml") || file.ends_with(".yml")) {
                continue;
            }
            // A deleted file has nothing to run.
            let Ok(text) = self.repo.file_at(commit, &file) else {
                continue;
            };
            let loaded = Catalog::load([(file.as_str(), text.as_str())]);
            for ((application, environment), dc) in &loaded.catalog.deployment_configs {
                targets.push(Target {
                    application: application.clone(),
                    environment: environment.clone(),
                    version: dc.version.clone().unwrap_or_default(),
                    file: file.clone(),
                });
            }
        }
        Ok(targets)
    }

    async fn run_command(&self, t: &Target, deployment: &str, commit: &str) -> Result<(), String> {
        let Some(command) = &self.command else {
            return Ok(());
        };
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(self.repo.config().workdir.clone())
            .env("APP", &t.application)
            .env("ENVIRONMENT", &t.environment)
            .env("VERSION", &t.version)
            .env("FILE", &t.file)
            .env("DEPLOYMENT_ID", deployment)
            .env("COMMIT", commit)
            .output()
            .await
            .map_err(|e| format!("cannot run the engine command: {e}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        for line in stdout.lines().chain(stderr.lines()) {
            tracing::info!(deployment, app = %t.application, environment = %t.environment, "engine: {line}");
        }
        if output.status.success() {
            Ok(())
        } else {
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(format!(
                "{} in {}: {} ({})",
                t.application,
                t.environment,
                output.status,
                tail.join(" / ")
            ))
        }
    }

    /// Processes every commit after the last one reported; returns how many were processed.
    /// The first run starts at the current head: history before it is not replayed.
    ///
    /// # Errors
    /// When the repository or the manager cannot be reached (nothing after that commit is
    /// recorded, so the next poll continues there).
    pub async fn poll_once(&self) -> Result<usize, String> {
        let Some(last) = self.last() else {
            let head = self
                .repo
                .commits_since(None)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(head) = head.last() {
                self.remember(head)?;
            }
            return Ok(0);
        };
        let commits = self
            .repo
            .commits_since(Some(&last))
            .await
            .map_err(|e| e.to_string())?;
        let mut done = 0;
        for commit in commits {
            let message = self
                .repo
                .message(&commit)
                .await
                .map_err(|e| e.to_string())?;
            let addressed = trailers(&message);
            let deployment = addressed
                .as_ref()
                .map(|(d, _)| d.clone())
                .unwrap_or_default();
            let targets = self.targets(&commit).await?;
            let mut failures = Vec::new();
            for t in &targets {
                if let Err(e) = self.run_command(t, &deployment, &commit).await {
                    failures.push(e);
                }
            }
            let scope: Vec<String> = targets
                .iter()
                .map(|t| format!("{}/{}", t.application, t.environment))
                .collect();
            tracing::info!(deployment = %deployment, commit = %commit, scope = ?scope, failed = failures.len(), "reconciled");
            if let Some((deployment, stage)) = addressed {
                let report = StatusReported {
                    deployment: DeploymentId(deployment.clone()),
                    stage_index: stage,
                    status: if failures.is_empty() {
                        EngineStatus::Success
                    } else {
                        EngineStatus::Failed
                    },
                    run_id: format!("engine-{}", commit.get(..12).unwrap_or(&commit)),
                    commit_sha: commit.clone(),
                    message: if failures.is_empty() {
                        format!("reconciled {}", scope.join(", "))
                    } else {
                        failures.join("; ")
                    },
                };
                match self.reporter.report(&report).await {
                    Ok(()) => {}
                    Err(ReportError::Refused(e)) => {
                        tracing::warn!(deployment = %deployment, commit = %commit, error = %e, "report refused; moving on");
                    }
                    Err(ReportError::Unavailable(e)) => {
                        return Err(format!("reporting {commit} for {deployment}: {e}"));
                    }
                }
            }
            self.remember(&commit)?;
            done += 1;
        }
        Ok(done)
    }

    /// Polls every `every` until `stop` turns true.
    pub async fn run(self, every: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.poll_once().await {
                tracing::warn!(error = %e, "engine poll failed; will retry");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
