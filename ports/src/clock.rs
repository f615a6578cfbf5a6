//! Time, injected: the driver never reads a clock or sleeps on its own.

use std::sync::Mutex;

use async_trait::async_trait;
use cd_core::pipeline::Timestamp;

/// A source of time and a way to wait.
///
/// ```
/// use cd_core::pipeline::Timestamp;
/// use cd_ports::{Clock, ManualClock};
///
/// let clock = ManualClock::new(Timestamp(1_000));
/// futures_executor::block_on(clock.sleep(250)); // a simulated wait returns at once...
/// assert_eq!(clock.now(), Timestamp(1_250)); // ...and time has moved by as much
/// ```
#[async_trait]
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
    /// Waits `ms` milliseconds (a simulated clock just moves on).
    async fn sleep(&self, ms: u64);
}

/// A clock that moves only when told to, or when slept on: deterministic, for simulation.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Mutex<i64>,
}

impl ManualClock {
    /// A clock at `start`.
    #[must_use]
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Mutex::new(start.0),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, ms: i64) {
        if let Ok(mut now) = self.now.lock() {
            *now = now.saturating_add(ms);
        }
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now.lock().map(|n| *n).unwrap_or_default())
    }

    async fn sleep(&self, ms: u64) {
        self.advance(i64::try_from(ms).unwrap_or(i64::MAX));
    }
}
