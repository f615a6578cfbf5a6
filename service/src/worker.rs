//! The worker: performs the effects the pipeline decided, records their outcomes, fires timers.
//!
//! Rules it keeps, and why:
//! - **Each effect is performed once per process.** An outcome the store cannot take is kept and
//!   recorded again later; performing the effect again to get the store back would push, tag or
//!   publish twice.
//! - **A stuck deployment stalls only itself.** While one deployment has an outcome waiting to
//!   be recorded, its other effects wait; everyone else's go on.
//! - **The stored outboxes are the truth.** At start, and every [`RESCAN`] after, the worker
//!   reads every stored outbox: work whose request died between storing its decision and
//!   queueing its effects is picked up there. Before performing an effect it checks the effect
//!   is still in its outbox and not parked.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use cd_core::pipeline::{DeploymentId, Effect, Input};
use cd_ports::{Driver, DriverError, Work};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::service::Shared;

/// How often timers (engine timeouts) are checked: they are minutes long.
const TICK: Duration = Duration::from_secs(5);
/// How often the stored outboxes are read again.
const RESCAN: Duration = Duration::from_secs(60);
/// First and longest wait before recording an outcome again, or reading the outboxes again
/// after a failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A performed effect whose outcome is not recorded yet.
struct Unrecorded {
    effect: Effect,
    outcome: Input,
    due: Instant,
    backoff: Duration,
}

/// Everything the worker holds in memory (all of it can be rebuilt from the store).
struct State {
    work: Work,
    /// By deployment: at most a few per deployment, usually none.
    unrecorded: BTreeMap<DeploymentId, Vec<Unrecorded>>,
    next_rescan: Instant,
    rescan_backoff: Duration,
}

impl State {
    fn depth(&self) -> usize {
        self.work.len() + self.unrecorded.values().map(Vec::len).sum::<usize>()
    }

    fn unrecorded_ids(&self) -> BTreeSet<String> {
        self.unrecorded
            .values()
            .flatten()
            .map(|u| u.effect.id.clone())
            .collect()
    }

    fn next_due(&self) -> Instant {
        self.unrecorded
            .values()
            .flatten()
            .map(|u| u.due)
            .fold(self.next_rescan, Instant::min)
    }
}

/// Whether `effect` is still in its deployment's stored outbox, unparked. An effect the
/// pipeline withdrew (the deployment ended or was superseded), parked, or already recorded is
/// not performed.
async fn still_pending(driver: &Driver, effect: &Effect) -> bool {
    match driver.deployment(&effect.deployment).await {
        Ok(Some(view)) => view
            .deployment
            .outbox
            .iter()
            .any(|p| p.effect.id == effect.id && !p.parked),
        Ok(None) => false,
        // Unknown: perform it; effects are idempotent.
        Err(_) => true,
    }
}

/// Records one outcome and queues what follows. `Err` when the store could not take it.
async fn record(
    shared: &Shared,
    work: &mut Work,
    effect: &Effect,
    outcome: &Input,
) -> Result<(), DriverError> {
    let recorded = shared.driver.record(effect, outcome, work).await;
    if let Err(e) = &recorded {
        tracing::error!(deployment = %effect.deployment, effect = %effect.id, error = %e, "cannot record the outcome; will retry");
    }
    recorded
}

async fn rescan(shared: &Shared, s: &mut State) {
    match shared.driver.pending().await {
        Ok(pending) => {
            // Outcomes waiting to be recorded are still in their outboxes: not work.
            let waiting = s.unrecorded_ids();
            let fresh: Vec<Effect> = pending
                .iter()
                .filter(|e| !waiting.contains(&e.id))
                .cloned()
                .collect();
            if !fresh.is_empty() {
                tracing::info!(effects = fresh.len(), "performing stored intent");
            }
            s.work.extend(fresh);
            s.next_rescan = Instant::now() + RESCAN;
            s.rescan_backoff = FIRST_BACKOFF;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the stored intent; will retry");
            s.next_rescan = Instant::now() + s.rescan_backoff;
            s.rescan_backoff = (s.rescan_backoff * 2).min(MAX_BACKOFF);
        }
    }
}

async fn retry_unrecorded(shared: &Shared, s: &mut State) {
    let now = Instant::now();
    let due: Vec<DeploymentId> = s
        .unrecorded
        .iter()
        .filter(|(_, list)| list.first().is_some_and(|u| u.due <= now))
        .map(|(d, _)| d.clone())
        .collect();
    for deployment in due {
        let Some(mut list) = s.unrecorded.remove(&deployment) else {
            continue;
        };
        while let Some(mut u) = (!list.is_empty()).then(|| list.remove(0)) {
            if record(shared, &mut s.work, &u.effect, &u.outcome)
                .await
                .is_err()
            {
                u.due = Instant::now() + u.backoff;
                u.backoff = (u.backoff * 2).min(MAX_BACKOFF);
                list.insert(0, u);
                break;
            }
        }
        if !list.is_empty() {
            s.unrecorded.insert(deployment, list);
        }
    }
}

/// Performs every queued effect once, except those of deployments waiting on a record.
async fn perform_queued(
    shared: &Shared,
    s: &mut State,
    rx: &mut mpsc::UnboundedReceiver<Vec<Effect>>,
    shutdown: &watch::Receiver<bool>,
) {
    let driver = &shared.driver;
    let mut deferred = Vec::new();
    loop {
        while let Ok(more) = rx.try_recv() {
            shared.received(more.len());
            s.work.extend(more);
        }
        shared.metrics.queue_set(s.depth() + deferred.len());
        let Some(effect) = s.work.pop() else { break };
        if *shutdown.borrow() {
            return;
        }
        if s.unrecorded.contains_key(&effect.deployment) {
            deferred.push(effect);
            continue;
        }
        if !still_pending(driver, &effect).await {
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
        if record(shared, &mut s.work, &effect, &outcome)
            .await
            .is_err()
        {
            s.unrecorded
                .entry(effect.deployment.clone())
                .or_default()
                .push(Unrecorded {
                    effect,
                    outcome,
                    due: Instant::now() + FIRST_BACKOFF,
                    backoff: FIRST_BACKOFF * 2,
                });
        }
    }
    s.work.extend(deferred);
}

/// Runs until `shutdown` turns true (finishing the effect in flight) or the queue closes.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Vec<Effect>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut s = State {
        work: Work::default(),
        unrecorded: BTreeMap::new(),
        next_rescan: Instant::now(),
        rescan_backoff: FIRST_BACKOFF,
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if Instant::now() >= s.next_rescan {
            rescan(&shared, &mut s).await;
        }
        retry_unrecorded(&shared, &mut s).await;
        perform_queued(&shared, &mut s, &mut rx, &shutdown).await;
        if *shutdown.borrow() {
            return;
        }
        shared.metrics.queue_set(s.depth());
        tokio::select! {
            more = rx.recv() => match more {
                Some(more) => {
                    shared.received(more.len());
                    s.work.extend(more);
                }
                None => return,
            },
            () = tokio::time::sleep_until(s.next_due()) => {}
            _ = tick.tick() => match shared.driver.submit(&Input::Tick).await {
                Ok(d) => s.work.extend(d.effects),
                Err(e) => tracing::warn!(error = %e, "tick failed"),
            },
            _ = shutdown.changed() => return,
        }
    }
}
