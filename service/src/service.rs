//! The running service: shared state, the effect worker, and `serve`.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cd_core::pipeline::{DeploymentId, Effect, Input, StageStatus};
use cd_ports::{Driver, DriverError, RetryPolicy, Work};
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

/// How long a graceful shutdown waits for the effect or engine command in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How often timers (engine timeouts) are checked: they are minutes long.
const TICK: Duration = Duration::from_secs(5);
/// The longest wait between attempts to record an outcome or read the stored intent.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The worker's queues: effects to perform, and outcomes performed but not yet recorded.
#[derive(Default)]
struct Queues {
    work: Work,
    /// Performed effects whose outcome the store did not take yet. They are recorded again,
    /// never performed again: repeating a push or a publish to get a store back is wrong.
    unrecorded: VecDeque<(Effect, Input)>,
}

impl Queues {
    fn depth(&self) -> usize {
        self.work.len() + self.unrecorded.len()
    }
}

/// Whether `effect` is still in its deployment's stored outbox. An effect the pipeline withdrew
/// (the deployment ended or was superseded), or one already recorded, is not performed.
async fn still_pending(driver: &Driver, effect: &Effect) -> bool {
    match driver.ports().store.deployment(&effect.deployment).await {
        Ok(Some(view)) => view
            .deployment
            .outbox
            .iter()
            .any(|p| p.effect.id == effect.id),
        Ok(None) => false,
        // Unknown: perform it; effects are idempotent.
        Err(_) => true,
    }
}

/// Records one outcome; on success queues what follows. Returns false when the store could not
/// take it (retry later).
async fn record(shared: &Shared, q: &mut Queues, effect: &Effect, outcome: &Input) -> bool {
    match shared.driver.submit(outcome).await {
        Ok(decision) => {
            q.work.extend(decision.effects);
            true
        }
        Err(DriverError::Rejected(r)) => {
            tracing::warn!(deployment = %effect.deployment, effect = %effect.id, rejection = %r, "outcome refused");
            true
        }
        Err(e) => {
            tracing::error!(deployment = %effect.deployment, effect = %effect.id, error = %e, "cannot record the outcome; will retry");
            false
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
    let mut q = Queues::default();
    let mut resumed = false;
    let mut backoff = Duration::from_secs(1);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut stalled = false;
        if !resumed {
            match driver.pending().await {
                Ok(pending) => {
                    if !pending.is_empty() {
                        tracing::info!(effects = pending.len(), "resuming stored intent");
                    }
                    q.work.extend(pending.iter().cloned());
                    resumed = true;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read stored intent; will retry");
                    stalled = true;
                }
            }
        }
        // Outcomes first: they were performed and only need recording.
        while let Some((effect, outcome)) = q.unrecorded.pop_front() {
            if !record(&shared, &mut q, &effect, &outcome).await {
                q.unrecorded.push_front((effect, outcome));
                stalled = true;
                break;
            }
        }
        while !stalled {
            while let Ok(more) = rx.try_recv() {
                q.work.extend(more);
            }
            shared.metrics.queue_set(q.depth());
            let Some(effect) = q.work.pop() else { break };
            if *shutdown.borrow() {
                return;
            }
            if !still_pending(&driver, &effect).await {
                tracing::debug!(deployment = %effect.deployment, effect = %effect.id, "no longer pending; skipped");
                continue;
            }
            let outcome = driver.perform(&effect).await;
            let result = if matches!(outcome, Input::EffectFailed { .. }) {
                "failed"
            } else {
                "done"
            };
            shared.metrics.effect(effect.kind.name(), result);
            if !record(&shared, &mut q, &effect, &outcome).await {
                q.unrecorded.push_back((effect, outcome));
                stalled = true;
            }
        }
        shared.metrics.queue_set(q.depth());
        let wait = backoff;
        backoff = if stalled {
            (backoff * 2).min(MAX_BACKOFF)
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            more = rx.recv() => match more {
                Some(more) => q.work.extend(more),
                None => return,
            },
            () = tokio::time::sleep(wait), if stalled => {}
            _ = tick.tick() => {
                match driver.submit(&Input::Tick).await {
                    Ok(d) => q.work.extend(d.effects),
                    Err(e) => tracing::warn!(error = %e, "tick failed"),
                }
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
    let worker = tokio::spawn(worker(shared.clone(), rx, stop_rx.clone()));
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
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| StartError::Io(e.to_string()));
    let _ = stop_tx.send(true);
    // The effect or engine command in flight may finish; past the grace period they are
    // abandoned (both are safe to repeat at the next start).
    let grace = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(grace);
    let mut tasks = vec![worker];
    tasks.extend(engine);
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
