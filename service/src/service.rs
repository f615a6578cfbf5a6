//! The running service: shared state, the effect worker, and `serve`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cd_core::pipeline::{Decision, DeploymentId, StageStatus, StateWrite};
use cd_ports::{Driver, RetryPolicy};
use tokio::sync::{mpsc, watch};

use crate::auth::OidcVerifier;
use crate::config::{Config, EngineKind};
use crate::engine::{EngineRunner, InProcess};
use crate::error::StartError;
use crate::local::{Opened, RandomIds};
use crate::metrics::Metrics;

/// What every request handler shares.
#[derive(Debug)]
pub struct Shared {
    /// The driver.
    pub driver: Arc<Driver>,
    /// The webhook secret.
    pub secret: Vec<u8>,
    /// OIDC, when configured.
    pub oidc: Option<OidcVerifier>,
    /// Whether the actor header is trusted.
    pub trust_actor_header: bool,
    /// The actor header (lower case).
    pub actor_header: String,
    /// Whether notifications must be signed.
    pub sign_notifications: bool,
    /// Metrics.
    pub metrics: Metrics,
    /// What one HTTP client may take: handlers read bodies within these.
    pub limits: cd_http::Limits,
    /// Liveness and readiness: the worker and background components report here.
    pub health: crate::health::Health,
    /// The Portal's session keys (derived from the secret, so every replica reads every
    /// session).
    pub(crate) sessions: crate::portal::session::Sessions,
    /// The Portal's sign-in through the OIDC issuer, when `auth.oidc.portal` is configured.
    pub(crate) signin: Option<crate::portal::signin::SignIn>,
    /// The DORA figures `/metrics` last computed, and when: a scrape reads the history at most
    /// once per [`crate::dora::METRICS_TTL_MS`].
    pub(crate) dora_cache: crate::dora::Cache,
    work: mpsc::UnboundedSender<Wake>,
}

/// What a request hands the worker.
#[derive(Debug)]
pub enum Wake {
    /// A stored decision: its effects to perform, its deadlines to tick at.
    Decided(Decision),
    /// A decision may or may not have been stored (the store failed): read the outboxes.
    Rescan,
}

impl Shared {
    /// The state handlers share, and the receiving end of the worker's queue.
    ///
    /// # Errors
    /// [`StartError`] when OIDC is configured and its HTTP client cannot be built, or the
    /// session key file cannot be read or written.
    pub fn new(
        config: &Config,
        driver: Arc<Driver>,
        secret: Vec<u8>,
    ) -> Result<(Arc<Shared>, mpsc::UnboundedReceiver<Wake>), StartError> {
        let oidc = match &config.auth.oidc {
            Some(o) => Some(OidcVerifier::new(o.clone()).map_err(StartError::Io)?),
            None => None,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // Its own key, never the webhook secret: CI and engines hold that one.
        let sessions = crate::portal::session::Sessions::new(&crate::local::session_key(
            &config.session_key_file(),
        )?);
        let signin = match &config.auth.oidc {
            Some(o) => crate::portal::signin::SignIn::new(o, crate::auth::ALGORITHMS)
                .map_err(StartError::Io)?,
            None => None,
        };
        let shared = Arc::new(Shared {
            driver,
            secret,
            sessions,
            signin,
            dora_cache: crate::dora::Cache::default(),
            oidc,
            trust_actor_header: config.trusts_actor_header(),
            actor_header: config.auth.actor_header.to_ascii_lowercase(),
            sign_notifications: config.signs_notifications(),
            metrics: Metrics::default(),
            limits: config.http.limits(),
            health: crate::health::Health::default(),
            work: tx,
        });
        Ok((shared, rx))
    }

    /// Decides `input`, stores the decision and hands it to the worker: what every source of
    /// inputs (the API, the engine, a Pub/Sub subscriber) does.
    ///
    /// # Errors
    /// The driver's.
    pub async fn accept(
        &self,
        input: &cd_core::pipeline::Input,
    ) -> Result<cd_core::pipeline::Decision, cd_ports::DriverError> {
        let result = self.driver.submit(input).await;
        let outcome = match &result {
            Ok(d) if d.is_noop() => "duplicate",
            Ok(_) => "accepted",
            Err(cd_ports::DriverError::Rejected(_)) => "rejected",
            Err(_) => "error",
        };
        self.metrics.input(input.name(), outcome);
        match &result {
            Ok(decision) if !decision.is_noop() => {
                self.metrics.channel_add(decision.effects.len(), true);
                // The worker only stops at shutdown; effects left unsent are in the stored
                // outboxes and are picked up at the next start.
                let _ = self.work.send(Wake::Decided(decision.clone()));
            }
            Ok(_) | Err(cd_ports::DriverError::Rejected(_)) => {}
            Err(_) => {
                let _ = self.work.send(Wake::Rescan);
            }
        }
        result
    }

    /// The worker took `n` effects off the queue.
    pub(crate) fn received(&self, n: usize) {
        self.metrics.channel_add(n, false);
    }

    /// Records how long a stage spent in the engine, if the report `decision` answered ended
    /// it: the stage as the decision wrote it (no read of the store).
    pub fn observe_stage(&self, decision: &Decision, id: &DeploymentId, index: usize) {
        let Some(stage) = decision.writes.iter().find_map(|w| match w {
            StateWrite::PutDeployment { deployment, .. } if deployment.id == *id => {
                deployment.stages.get(index)
            }
            _ => None,
        }) else {
            return;
        };
        let status = match stage.status {
            StageStatus::Succeeded => "SUCCEEDED",
            StageStatus::Failed => "FAILED",
            _ => return,
        };
        if let (Some(start), Some(end)) = (stage.started_at, stage.finished_at) {
            #[allow(clippy::cast_precision_loss)]
            self.metrics
                .stage(status, end.0.saturating_sub(start.0) as f64 / 1000.0);
        }
    }
}

/// How long a graceful shutdown waits for the effect or engine command in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Runs the service on `opened` until `shutdown` resolves, then stops taking requests, lets
/// the effect in flight finish, and returns. `on_listen` receives the bound address.
///
/// # Errors
/// [`StartError`] when the address cannot be bound or OIDC cannot be set up.
pub async fn serve(
    config: &Config,
    opened: Opened,
    on_listen: impl FnOnce(std::net::SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let driver = Arc::new(Driver::new(
        opened.ports.clone(),
        config.settings(),
        RetryPolicy::default(),
        Box::new(RandomIds),
    ));
    let (shared, rx) = Shared::new(config, driver, opened.secret.clone())?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Io(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Io(e.to_string()))?;
    // The local engine takes its starting point before the worker can push anything, so a
    // promotion resumed at start is never mistaken for history.
    let engine = match config.engine.kind {
        EngineKind::Local => {
            let runner = {
                let config = config.clone();
                let reporter = Box::new(InProcess(shared.clone()));
                tokio::task::spawn_blocking(move || {
                    EngineRunner::open(
                        &config,
                        &config.data_dir.join("work").join("engine"),
                        config.engine.command.clone(),
                        reporter,
                    )
                })
                .await
                .map_err(|e| StartError::Io(e.to_string()))??
            }
            .with_command_timeout(Duration::from_millis(config.engine.command_timeout_ms));
            runner.ensure_start(None).await.map_err(StartError::Io)?;
            Some(runner)
        }
        EngineKind::Webhook => None,
    };
    shared.health.worker_spawned();
    let worker = tokio::spawn(crate::worker::run(shared.clone(), rx, stop_rx.clone()));
    let background: Vec<_> = opened
        .background
        .into_iter()
        .map(|task| tokio::spawn(task(shared.clone(), stop_rx.clone())))
        .collect();
    let engine = engine.map(|runner| {
        tokio::spawn(runner.run(
            Duration::from_millis(config.engine.poll_ms),
            stop_rx.clone(),
        ))
    });
    if config.auth.trust_actor_header.is_none() && shared.trust_actor_header {
        tracing::warn!(
            "trusting the {} header because the service listens on loopback; behind a reverse proxy on this host, set auth.trust_actor_header = false",
            shared.actor_header
        );
    }
    tracing::info!(%addr, trust_actor_header = shared.trust_actor_header, sign_notifications = shared.sign_notifications, "listening");
    on_listen(addr);
    let app = crate::api::router(shared.clone());
    let result = cd_http::serve(listener, app, config.http.limits(), shutdown)
        .await
        .map_err(|e| StartError::Io(e.to_string()));
    let _ = stop_tx.send(true);
    // The effect or engine command in flight may finish; past the grace period they are
    // abandoned (both are safe to repeat at the next start).
    let grace = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(grace);
    let mut tasks = vec![worker];
    tasks.extend(engine);
    tasks.extend(background);
    for task in &mut tasks {
        tokio::select! {
            _ = &mut *task => {}
            () = &mut grace => {
                tracing::warn!("work in flight did not finish within the grace period; abandoned");
                break;
            }
        }
    }
    for task in &tasks {
        task.abort();
    }
    tracing::info!("stopped");
    result
}
