//! The effect loop: performs the effects the pipeline decided, records their outcomes, and
//! sends the ticks that fail stages the engine never answered.
//!
//! The service runs it on tokio and the simulator runs it on a [`ManualClock`](crate::ManualClock),
//! with faults and crashes between any two calls: the rules below are the same code in both.
//! The loop holds no time of its own; it reads the driver's [`Clock`](crate::Clock) and says,
//! through [`EffectLoop::next_wake`], when it next has something to do. The host waits until
//! then or until new decisions arrive, whichever comes first.
//!
//! Rules it keeps, and why:
//! - **Each effect is performed once per loop.** An outcome the store cannot take is kept and
//!   recorded again later, with backoff; performing the effect again to get the store back
//!   would push, tag or publish twice.
//! - **A stuck deployment stalls only itself.** While one deployment has an outcome waiting to
//!   be recorded, its other effects wait; everyone else's go on.
//! - **The stored outboxes are the truth.** At start, every [`LoopPolicy::rescan_ms`] after,
//!   and when the host asks ([`EffectLoop::rescan_soon`]), the loop reads every stored outbox:
//!   work whose caller died between storing its decision and queueing its effects is picked up
//!   there. Before performing an effect it checks the effect is still in its outbox, unparked.
//! - **Ticks follow deadlines.** The loop keeps the engine deadlines of every decision it sees
//!   (and of the whole store at each rescan) and ticks when the earliest passes, not on a
//!   fixed period over every deployment.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use cd_core::pipeline::{Decision, DeploymentId, Effect, Input, Rejection, Timestamp};

use crate::backoff::Backoff;
use crate::driver::{Driver, DriverError};

/// Effects waiting to be performed, each once.
#[derive(Clone, Debug, Default)]
pub(crate) struct Work {
    queue: VecDeque<Effect>,
    seen: BTreeSet<String>,
}

impl Work {
    /// Adds effects not already queued.
    pub(crate) fn extend(&mut self, effects: impl IntoIterator<Item = Effect>) {
        for e in effects {
            if self.seen.insert(e.id.clone()) {
                self.queue.push_back(e);
            }
        }
    }

    /// Removes and returns the effect at `index` (to run effects out of order).
    pub(crate) fn take(&mut self, index: usize) -> Option<Effect> {
        let e = self.queue.remove(index)?;
        self.seen.remove(&e.id);
        Some(e)
    }

    /// How many effects wait.
    #[must_use]
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// The waiting effects, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Effect> {
        self.queue.iter()
    }
}

/// How often the loop reads the store again, and how it backs off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopPolicy {
    /// Interval between reads of every stored outbox.
    pub rescan_ms: u64,
    /// First wait before recording an outcome again, reading the outboxes again or ticking
    /// again after a failure; doubled after each.
    pub first_backoff_ms: u64,
    /// Longest such wait.
    pub max_backoff_ms: u64,
}

impl Default for LoopPolicy {
    fn default() -> Self {
        LoopPolicy {
            rescan_ms: 60_000,
            first_backoff_ms: 1_000,
            max_backoff_ms: 60_000,
        }
    }
}

impl LoopPolicy {
    fn backoff(&self) -> Backoff {
        Backoff::new(self.first_backoff_ms, self.max_backoff_ms)
    }
}

/// A performed effect whose outcome the store has not taken yet.
#[derive(Debug)]
struct Unrecorded {
    effect: Effect,
    outcome: Input,
    due: Timestamp,
    backoff: Backoff,
}

/// What came of recording an outcome.
#[derive(Debug)]
#[must_use]
pub enum Recorded {
    /// Stored; the decision's effects are queued.
    Decided(Decision),
    /// The core refused the outcome (the deployment ended, or the outcome was recorded
    /// already): nothing is left to do for it.
    Refused(Rejection),
    /// The store could not take it: kept, and recorded again after a backoff.
    Kept(DriverError),
}

/// The effect loop over one [`Driver`]. Everything it holds can be rebuilt from the store: a
/// crashed host starts a new one, which reads the outboxes first.
#[derive(Debug)]
pub struct EffectLoop {
    driver: Arc<Driver>,
    policy: LoopPolicy,
    work: Work,
    /// By deployment, oldest first: at most a few per deployment, usually none.
    unrecorded: BTreeMap<DeploymentId, VecDeque<Unrecorded>>,
    next_rescan: Timestamp,
    /// Set while the last read of the outboxes failed.
    rescan_backoff: Option<Backoff>,
    deadlines: BTreeSet<Timestamp>,
    /// Set while the last tick failed: when to send it again.
    tick_retry: Option<Timestamp>,
    tick_backoff: Backoff,
}

impl EffectLoop {
    /// A loop over `driver` that reads the stored outboxes at its first
    /// [`housekeeping`](EffectLoop::housekeeping).
    #[must_use]
    pub fn new(driver: Arc<Driver>, policy: LoopPolicy) -> Self {
        let now = driver.now();
        EffectLoop {
            tick_backoff: policy.backoff(),
            driver,
            policy,
            work: Work::default(),
            unrecorded: BTreeMap::new(),
            next_rescan: now,
            rescan_backoff: None,
            deadlines: BTreeSet::new(),
            tick_retry: None,
        }
    }

    /// The driver the loop runs on.
    #[must_use]
    pub fn driver(&self) -> &Arc<Driver> {
        &self.driver
    }

    /// Takes in a decision made elsewhere (a request, an engine report): its effects are
    /// queued and its deadlines scheduled.
    pub fn observe(&mut self, decision: &Decision) {
        self.work.extend(decision.effects.iter().cloned());
        self.deadlines.extend(decision.deadlines());
    }

    /// Reads the stored outboxes at the next housekeeping: a caller whose decision may or may
    /// not have been stored (the store failed on commit) asks for this.
    pub fn rescan_soon(&mut self) {
        self.next_rescan = self.driver.now();
    }

    /// Effects queued (including those waiting behind an unrecorded outcome).
    #[must_use]
    pub fn queued(&self) -> usize {
        self.work.len()
    }

    /// Outcomes performed and not yet recorded.
    #[must_use]
    pub fn unrecorded(&self) -> usize {
        self.unrecorded.values().map(VecDeque::len).sum()
    }

    /// The earliest time something that failed is tried again (an outcome recorded, the
    /// outboxes read, a tick sent), if anything failed.
    #[must_use]
    pub fn retry_at(&self) -> Option<Timestamp> {
        let rescan = self.rescan_backoff.map(|_| self.next_rescan);
        self.unrecorded
            .values()
            .filter_map(|list| list.front().map(|u| u.due))
            .chain(rescan)
            .chain(self.tick_retry)
            .min()
    }

    /// When [`housekeeping`](EffectLoop::housekeeping) next has work: the next read of the
    /// outboxes, outcome to record again, or deadline.
    #[must_use]
    pub fn next_wake(&self) -> Timestamp {
        self.retry_at()
            .into_iter()
            .chain(self.deadlines.first().copied())
            .fold(self.next_rescan, Timestamp::min)
    }

    /// Does what is due now: reads the outboxes, records kept outcomes again, and ticks past
    /// deadlines. Returns the decisions it stored (their effects are queued already).
    pub async fn housekeeping(&mut self) -> Vec<Decision> {
        let mut decided = Vec::new();
        if self.driver.now() >= self.next_rescan {
            self.rescan().await;
        }
        self.record_kept(&mut decided).await;
        self.tick(&mut decided).await;
        decided
    }

    /// Takes the next effect to perform: `pick` chooses among the effects that may run now
    /// (given how many there are, it returns an index; the service takes the oldest, the
    /// simulator any). Effects withdrawn from their outbox meanwhile are dropped.
    pub async fn next_effect(&mut self, mut pick: impl FnMut(usize) -> usize) -> Option<Effect> {
        loop {
            let runnable: Vec<usize> = self
                .work
                .iter()
                .enumerate()
                .filter(|(_, e)| !self.unrecorded.contains_key(&e.deployment))
                .map(|(i, _)| i)
                .collect();
            let last = runnable.len().checked_sub(1)?;
            let index = *runnable.get(pick(runnable.len()).min(last))?;
            let effect = self.work.take(index)?;
            if self.still_pending(&effect).await {
                return Some(effect);
            }
            tracing::debug!(deployment = %effect.deployment, effect = %effect.id, "no longer pending; skipped");
        }
    }

    /// Performs `effect` through its port (the driver retries transient failures) and returns
    /// the outcome to [`record`](EffectLoop::record).
    pub async fn perform(&self, effect: &Effect) -> Input {
        self.driver.perform(effect).await
    }

    /// Records what came of `effect` and queues what follows. An outcome the store cannot
    /// take is kept and recorded again at a later housekeeping; the effect is never
    /// performed again by this loop.
    pub async fn record(&mut self, effect: Effect, outcome: Input) -> Recorded {
        let recorded = self.submit_outcome(&effect, &outcome).await;
        if matches!(recorded, Recorded::Kept(_)) {
            let mut backoff = self.policy.backoff();
            let due = after(self.driver.now(), backoff.next_wait());
            self.unrecorded
                .entry(effect.deployment.clone())
                .or_default()
                .push_back(Unrecorded {
                    effect,
                    outcome,
                    due,
                    backoff,
                });
        }
        recorded
    }

    /// Runs until nothing is left to do now: housekeeping, then every queued effect in order.
    /// For hosts that need no say between effects (the service and the simulator call the
    /// steps one by one).
    pub async fn run_until_idle(&mut self) {
        loop {
            let _ = self.housekeeping().await;
            let mut performed = false;
            while let Some(effect) = self.next_effect(|_| 0).await {
                let outcome = self.perform(&effect).await;
                let _ = self.record(effect, outcome).await;
                performed = true;
            }
            if !performed {
                return;
            }
        }
    }

    async fn submit_outcome(&mut self, effect: &Effect, outcome: &Input) -> Recorded {
        match self.driver.submit(outcome).await {
            Ok(decision) => {
                self.observe(&decision);
                Recorded::Decided(decision)
            }
            Err(DriverError::Rejected(r)) => {
                tracing::warn!(deployment = %effect.deployment, effect = %effect.id, rejection = %r, "outcome refused");
                Recorded::Refused(r)
            }
            Err(e) => {
                tracing::error!(deployment = %effect.deployment, effect = %effect.id, error = %e, "cannot record the outcome; will retry");
                Recorded::Kept(e)
            }
        }
    }

    /// Whether `effect` is still in its deployment's stored outbox, unparked. An effect the
    /// pipeline withdrew (the deployment ended or was superseded), parked, or already recorded
    /// is not performed.
    async fn still_pending(&self, effect: &Effect) -> bool {
        match self.driver.deployment(&effect.deployment).await {
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

    async fn rescan(&mut self) {
        match self.driver.outstanding().await {
            Ok(outstanding) => {
                // Outcomes waiting to be recorded are still in their outboxes: not work.
                let waiting: BTreeSet<&str> = self
                    .unrecorded
                    .values()
                    .flatten()
                    .map(|u| u.effect.id.as_str())
                    .collect();
                let fresh: Vec<Effect> = outstanding
                    .effects
                    .into_iter()
                    .filter(|e| !waiting.contains(e.id.as_str()))
                    .collect();
                if !fresh.is_empty() {
                    tracing::info!(effects = fresh.len(), "performing stored intent");
                }
                self.work.extend(fresh);
                // The whole store's deadlines replace what was seen since the last read: those
                // cleared meanwhile are gone, those of other replicas arrive.
                self.deadlines = outstanding.deadlines.into_iter().collect();
                self.rescan_backoff = None;
                self.next_rescan = after(self.driver.now(), self.policy.rescan_ms);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the stored intent; will retry");
                let backoff = self
                    .rescan_backoff
                    .get_or_insert_with(|| self.policy.backoff());
                self.next_rescan = after(self.driver.now(), backoff.next_wait());
            }
        }
    }

    async fn record_kept(&mut self, decided: &mut Vec<Decision>) {
        let now = self.driver.now();
        let due: Vec<DeploymentId> = self
            .unrecorded
            .iter()
            .filter(|(_, list)| list.front().is_some_and(|u| u.due <= now))
            .map(|(d, _)| d.clone())
            .collect();
        for deployment in due {
            let Some(mut list) = self.unrecorded.remove(&deployment) else {
                continue;
            };
            while let Some(mut u) = list.pop_front() {
                match self.submit_outcome(&u.effect, &u.outcome).await {
                    Recorded::Decided(d) => decided.push(d),
                    Recorded::Refused(_) => {}
                    Recorded::Kept(_) => {
                        u.due = after(self.driver.now(), u.backoff.next_wait());
                        list.push_front(u);
                        break;
                    }
                }
            }
            if !list.is_empty() {
                self.unrecorded.insert(deployment, list);
            }
        }
    }

    async fn tick(&mut self, decided: &mut Vec<Decision>) {
        let now = self.driver.now();
        let due = self.deadlines.first().is_some_and(|d| *d <= now)
            || self.tick_retry.is_some_and(|t| t <= now);
        if !due {
            return;
        }
        // One tick acts on every deadline that passed.
        self.deadlines = self.deadlines.split_off(&now.plus_ms(1));
        match self.driver.submit(&Input::Tick).await {
            Ok(decision) => {
                self.tick_retry = None;
                self.tick_backoff.reset();
                self.observe(&decision);
                decided.push(decision);
            }
            Err(DriverError::Rejected(r)) => {
                self.tick_retry = None;
                tracing::warn!(rejection = %r, "tick refused");
            }
            Err(e) => {
                tracing::warn!(error = %e, "tick failed; will retry");
                self.tick_retry = Some(after(now, self.tick_backoff.next_wait()));
            }
        }
    }
}

/// `ms` milliseconds after `t`.
fn after(t: Timestamp, ms: u64) -> Timestamp {
    t.plus_ms(i64::try_from(ms).unwrap_or(i64::MAX))
}
