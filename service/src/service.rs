//! The running service: shared state, the effect worker, and `serve`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cd_core::pipeline::{DeploymentId, Effect, Input, StageStatus};
use cd_ports::{Driver, RetryPolicy, Work};
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
    work: mpsc::UnboundedSender<Vec<Effect>>,
}

impl Shared {
    /// The state handlers share, and the receiving end of the worker's queue.
    ///
    /// # Errors
    /// [`StartError`] when OIDC is configured and its HTTP client cannot be built.
    pub fn new(
        config: &Config,
        driver: Arc<Driver>,
        secret: Vec<u8>,
    ) -> Result<(Arc<Shared>, mpsc::UnboundedReceiver<Vec<Effect>>), StartError> {
        let oidc = match &config.auth.oidc {
            Some(o) => Some(OidcVerifier::new(o.clone()).map_err(StartError::Io)?),
            None => None,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            driver,
            secret,
            oidc,
            trust_actor_header: config.trusts_actor_header(),
            actor_header: config.auth.actor_header.to_ascii_lowercase(),
            sign_notifications: config.signs_notifications(),
            metrics: Metrics::default(),
            work: tx,
        });
        Ok((shared, rx))
    }

    /// Hands effects to the worker.
    pub fn enqueue(&self, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        self.metrics
            .queue_add(i64::try_from(effects.len()).unwrap_or(0));
        // The worker only stops at shutdown; effects left unsent are in the stored outboxes
        // and are picked up at the next start.
        let _ = self.work.send(effects);
    }

    /// Records how long a stage spent in the engine, if the report ended it.
    pub async fn observe_stage(&self, id: &DeploymentId, index: usize) {
        let Ok(Some(view)) = self.driver.ports().store.deployment(id).await else {
            return;
        };
        let Some(stage) = view.deployment.stages.get(index) else {
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

/// Performs effects in order, feeding outcomes back, and fires timers. Starts with the effects
/// every stored outbox holds: a restart resumes in-flight work from the stored intent.
async fn worker(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Vec<Effect>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let driver = shared.driver.clone();
    let mut work = Work::default();
    let mut rescan = true;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if rescan {
            match driver.pending().await {
                Ok(pending) => {
                    let n = pending.len();
                    if n > 0 {
                        tracing::info!(effects = n, "resuming stored intent");
                    }
                    work.extend(pending.iter().cloned());
                    rescan = false;
                }
                Err(e) => tracing::error!(error = %e, "cannot read stored intent; retrying"),
            }
        }
        while let Some(effect) = work.pop() {
            if *shutdown.borrow() {
                return;
            }
            let kind = effect.kind.name();
            let deployment = effect.deployment.clone();
            let outcome = driver.perform(&effect).await;
            shared.metrics.queue_add(-1);
            let result = if matches!(outcome, Input::EffectFailed { .. }) {
                "failed"
            } else {
                "done"
            };
            shared.metrics.effect(kind, result);
            match driver.submit(&outcome).await {
                Ok(decision) => {
                    shared
                        .metrics
                        .queue_add(i64::try_from(decision.effects.len()).unwrap_or(0));
                    work.extend(decision.effects);
                }
                Err(cd_ports::DriverError::Rejected(r)) => {
                    tracing::warn!(deployment = %deployment, effect = %effect.id, rejection = %r, "outcome refused");
                }
                Err(e) => {
                    // The effect is still in its outbox: perform it again after a rescan.
                    tracing::error!(deployment = %deployment, effect = %effect.id, error = %e, "cannot record the outcome; will retry");
                    rescan = true;
                }
            }
            while let Ok(more) = rx.try_recv() {
                work.extend(more);
            }
        }
        tokio::select! {
            more = rx.recv() => match more {
                Some(more) => work.extend(more),
                None => return,
            },
            _ = tick.tick() => {
                match driver.submit(&Input::Tick).await {
                    Ok(d) => work.extend(d.effects),
                    Err(e) => tracing::warn!(error = %e, "tick failed"),
                }
                if rescan { continue; }
            }
            _ = shutdown.changed() => return,
        }
    }
}

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
    let worker = tokio::spawn(worker(shared.clone(), rx, stop_rx.clone()));
    let engine = match config.engine.kind {
        EngineKind::Local => {
            let runner = EngineRunner::open(
                config,
                &config.data_dir.join("work").join("engine"),
                config.engine.command.clone(),
                Box::new(InProcess(shared.clone())),
            )?;
            Some(tokio::spawn(runner.run(
                Duration::from_millis(config.engine.poll_ms),
                stop_rx.clone(),
            )))
        }
        EngineKind::Webhook => None,
    };
    tracing::info!(%addr, trust_actor_header = shared.trust_actor_header, sign_notifications = shared.sign_notifications, "listening");
    on_listen(addr);
    let app = crate::api::router(shared.clone());
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| StartError::Io(e.to_string()));
    let _ = stop_tx.send(true);
    let _ = worker.await;
    if let Some(engine) = engine {
        let _ = engine.await;
    }
    tracing::info!("stopped");
    result
}
