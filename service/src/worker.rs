//! The worker: runs the [`EffectLoop`] on tokio.
//!
//! The loop's rules (once-only performing, backoff, outbox re-reads, ticks from deadlines) live
//! in `cd_ports::EffectLoop`, where the simulator runs them too; this file only waits. It
//! sleeps until the loop's next wake-up or until a request hands it new work, checks for
//! shutdown between effects, and keeps the metrics.

use std::sync::Arc;
use std::time::Duration;

use cd_core::pipeline::Input;
use cd_ports::{EffectLoop, LoopPolicy};
use tokio::sync::{mpsc, watch};

use crate::service::{Shared, Wake};

/// Takes in what requests handed over since the last look.
fn take(shared: &Shared, effects: &mut EffectLoop, wake: Wake) {
    match wake {
        Wake::Decided(decision) => {
            shared.received(decision.effects.len());
            effects.observe(&decision);
        }
        Wake::Rescan => effects.rescan_soon(),
    }
}

fn depth(effects: &EffectLoop) -> usize {
    effects.queued() + effects.unrecorded()
}

/// Performs every effect that may run now, oldest first. Returns false at shutdown.
async fn perform_runnable(
    shared: &Shared,
    effects: &mut EffectLoop,
    rx: &mut mpsc::UnboundedReceiver<Wake>,
    shutdown: &watch::Receiver<bool>,
) -> bool {
    loop {
        while let Ok(wake) = rx.try_recv() {
            take(shared, effects, wake);
        }
        shared.metrics.queue_set(depth(effects));
        shared.health.set_backlog(depth(effects));
        if *shutdown.borrow() {
            return false;
        }
        let Some(effect) = effects.next_effect(|_| 0).await else {
            return true;
        };
        let outcome = effects.perform(&effect).await;
        let result = if matches!(outcome, Input::EffectFailed { .. }) {
            "failed"
        } else {
            "done"
        };
        shared.metrics.effect(effect.kind.name(), result);
        let _ = effects.record(effect, outcome).await;
    }
}

/// Runs until `shutdown` turns true (finishing the effect in flight) or the queue closes.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Wake>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _running = shared.health.worker_started();
    let mut effects = EffectLoop::new(shared.driver.clone(), LoopPolicy::default());
    loop {
        let _ = effects.housekeeping().await;
        if !perform_runnable(&shared, &mut effects, &mut rx, &shutdown).await {
            return;
        }
        let wait = effects.next_wake().0.saturating_sub(shared.driver.now().0);
        let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
        tokio::select! {
            wake = rx.recv() => match wake {
                Some(wake) => take(&shared, &mut effects, wake),
                None => return,
            },
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}
