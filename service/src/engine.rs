//! The engine runner: the seed's Engine with scoped execution. It follows the manifest branch,
//! and for each new commit runs the configured command once per DeploymentConfig the commit
//! changed (nothing else is touched), then reports the result to the status webhook for the
//! deployment and stage named in the commit's trailers.
//!
//! Delivery is at least once: the last reported commit is recorded only after its report is
//! accepted, so a crash in between runs the command again. Commands must be idempotent, as
//! `kubectl apply`, `helm upgrade --install` and `terraform apply` are.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cd_core::manifest::Catalog;
use cd_core::pipeline::{EngineStatus, Input, Promotion, StatusReported};
use cd_git::{GitConfig, GitRepo};
use cd_ports::{DriverError, ManifestRepo};
use tokio::sync::watch;

use crate::blocking::Blocking;
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
        match self.0.accept(&Input::StatusReported(report.clone())).await {
            Ok(decision) => {
                self.0
                    .observe_stage(&decision, &report.deployment, report.stage_index);
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
            "deployment": r.deployment,
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
        // Only the manager's own refusals (a JSON error body) are final; anything else, such
        // as a proxy's 404 page, is retried.
        let from_api = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .is_some_and(|v| v.get("error").is_some());
        match status.as_u16() {
            200..=299 => Ok(()),
            401 | 403 => {
                tracing::error!(%status, "the manager refused our credentials: check the webhook secret");
                Err(ReportError::Unavailable(format!("{status}: {text}")))
            }
            400..=499 if from_api && status.as_u16() != 429 => {
                Err(ReportError::Refused(format!("{status}: {text}")))
            }
            _ => Err(ReportError::Unavailable(format!("{status}: {text}"))),
        }
    }
}

/// How long a command may run unless configured otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(15 * 60);

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
    repo: Arc<GitRepo>,
    /// The same repository, called off the async runtime.
    port: Blocking<GitRepo>,
    state_file: PathBuf,
    command: Option<String>,
    command_timeout: Duration,
    reporter: Box<dyn Reporter>,
    /// A commit whose command ran but whose report was not delivered: only the report is
    /// retried, the command never runs again for it in this process.
    unreported: Mutex<Option<(String, StatusReported)>>,
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
        Self::with_git(git, command, reporter)
    }

    /// A runner on the repository `git` describes (its `workdir` holds the clone).
    ///
    /// # Errors
    /// When the remote cannot be cloned.
    pub fn with_git(
        git: GitConfig,
        command: Option<String>,
        reporter: Box<dyn Reporter>,
    ) -> Result<Self, StartError> {
        Ok(Self::on(GitRepo::open(git)?, command, reporter))
    }

    /// A runner on an opened clone (its workdir holds the runner's position beside it).
    fn on(repo: GitRepo, command: Option<String>, reporter: Box<dyn Reporter>) -> Self {
        let state_file = repo.config().workdir.with_extension("last-commit");
        let repo = Arc::new(repo);
        EngineRunner {
            port: Blocking(repo.clone()),
            repo,
            state_file,
            command,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            reporter,
            unreported: Mutex::new(None),
        }
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
        Ok(Self::on(repo, command, reporter))
    }

    /// Stops a command that runs longer than `timeout` (it counts as failed).
    #[must_use]
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The last commit reported; `None` before the first run. An unreadable position is an
    /// error, never a silent restart from the head.
    fn last(&self) -> Result<Option<String>, String> {
        match std::fs::read_to_string(&self.state_file) {
            Ok(s) if s.trim().is_empty() => Err(format!(
                "{} is empty; delete it to start from the head, or write the last reconciled commit in it",
                self.state_file.display()
            )),
            Ok(s) => Ok(Some(s.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", self.state_file.display())),
        }
    }

    /// Sets where the runner starts when it has no position yet: `since` (a commit, exclusive),
    /// or the branch head. Call before anything else writes to the branch; does nothing when a
    /// position is recorded.
    ///
    /// # Errors
    /// When the position cannot be read or written, or the repository cannot be read.
    pub async fn ensure_start(&self, since: Option<&str>) -> Result<(), String> {
        if self.last()?.is_some() {
            return Ok(());
        }
        let start = match since {
            Some(c) => c.to_string(),
            None => {
                let all = self
                    .port
                    .commits_since(None)
                    .await
                    .map_err(|e| e.to_string())?;
                match all.last() {
                    Some(head) => head.clone(),
                    None => return Ok(()),
                }
            }
        };
        self.remember(&start)
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
            .port
            .changed_files(commit)
            .await
            .map_err(|e| e.to_string())?
        {
            if !(file.ends_with(".yaml") || file.ends_with(".yml")) {
                continue;
            }
            // A deleted file has nothing to run.
            let (repo, at, path) = (self.repo.clone(), commit.to_string(), file.clone());
            let Ok(Ok(text)) = tokio::task::spawn_blocking(move || repo.file_at(&at, &path)).await
            else {
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
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(command)
            .current_dir(self.repo.config().workdir.clone())
            .env("APP", &t.application)
            .env("ENVIRONMENT", &t.environment)
            .env("VERSION", &t.version)
            .env("FILE", &t.file)
            .env("DEPLOYMENT_ID", deployment)
            .env("COMMIT", commit)
            // The manifest remote's token is ours, not the deploy command's.
            .env_remove("INFRASTREAM_GIT_TOKEN")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        // Its own process group, so a timeout stops everything the command started.
        #[cfg(unix)]
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run the engine command: {e}"))?;
        let group = child.id();
        let output =
            match tokio::time::timeout(self.command_timeout, child.wait_with_output()).await {
                Ok(out) => out.map_err(|e| format!("cannot run the engine command: {e}"))?,
                Err(_) => {
                    if let Some(pid) = group {
                        let _ = std::process::Command::new("kill")
                            .args(["-KILL", "--", &format!("-{pid}")])
                            .status();
                    }
                    return Err(format!(
                        "{} in {}: the command ran longer than {} s and was stopped",
                        t.application,
                        t.environment,
                        self.command_timeout.as_secs()
                    ));
                }
            };
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
    /// Without a recorded position it starts at the branch head (see
    /// [`EngineRunner::ensure_start`]): history before it is not replayed.
    ///
    /// # Errors
    /// When the repository or the manager cannot be reached (nothing after that commit is
    /// recorded, so the next poll continues there).
    pub async fn poll_once(&self) -> Result<usize, String> {
        let (_tx, stop) = watch::channel(false);
        self.poll(&stop).await
    }

    async fn deliver(&self, commit: &str, report: StatusReported) -> Result<(), String> {
        match self.reporter.report(&report).await {
            Ok(()) => Ok(()),
            Err(ReportError::Refused(e)) => {
                tracing::warn!(deployment = %report.deployment, commit, error = %e, "report refused; moving on");
                Ok(())
            }
            Err(ReportError::Unavailable(e)) => {
                let msg = format!("reporting {commit} for {}: {e}", report.deployment);
                if let Ok(mut u) = self.unreported.lock() {
                    *u = Some((commit.to_string(), report));
                }
                Err(msg)
            }
        }
    }

    async fn poll(&self, stop: &watch::Receiver<bool>) -> Result<usize, String> {
        let Some(last) = self.last()? else {
            self.ensure_start(None).await?;
            return Ok(0);
        };
        let commits = self
            .port
            .commits_since(Some(&last))
            .await
            .map_err(|e| e.to_string())?;
        let mut done = 0;
        for commit in commits {
            if *stop.borrow() {
                break;
            }
            // A report that could not be delivered: deliver it, without running again.
            let held = self
                .unreported
                .lock()
                .ok()
                .and_then(|mut u| u.take_if(|(c, _)| *c == commit));
            if let Some((_, report)) = held {
                self.deliver(&commit, report).await?;
                self.remember(&commit)?;
                done += 1;
                continue;
            }
            let message = self
                .port
                .message(&commit)
                .await
                .map_err(|e| e.to_string())?;
            let addressed = Promotion::parse(&message);
            let deployment = addressed
                .as_ref()
                .map(|p| p.deployment.0.clone())
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
            if let Some(Promotion { deployment, stage }) = addressed {
                let report = StatusReported {
                    deployment,
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
                self.deliver(&commit, report).await?;
            }
            self.remember(&commit)?;
            done += 1;
        }
        Ok(done)
    }

    /// Polls every `every` until `stop` turns true; after a failure, waits longer each time
    /// (up to a minute).
    pub async fn run(self, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut wait = every;
        loop {
            match self.poll(&stop).await {
                Ok(_) => wait = every,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis(), "engine poll failed; will retry");
                    wait = (wait * 2).min(Duration::from_secs(60));
                }
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
