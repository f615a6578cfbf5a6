//! Requests per minute for each `repository` claim (a token bucket each), never per client
//! address: many jobs share a runner's address, and one repository's flood must not starve
//! another's.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Buckets beyond this many are pruned of the full ones (any repository on GitHub can get a
/// token for our audience, so the keys are not ours to bound)...
const PRUNE_ABOVE: usize = 10_000;
/// ...at most this often, so a large map is not scanned on every request.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// One bucket per key, refilled continuously to `per_minute`.
#[derive(Debug)]
pub struct Limiter {
    per_minute: f64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<String, (f64, Instant)>,
    pruned: Option<Instant>,
}

impl Limiter {
    /// `per_minute` requests a minute per key, in bursts of up to as many.
    #[must_use]
    pub fn new(per_minute: u32) -> Limiter {
        Limiter {
            per_minute: f64::from(per_minute),
            state: Mutex::new(State::default()),
        }
    }

    /// Takes one request from `key`'s bucket at `now`: whether it may go on, and if not, in
    /// how many seconds it could.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), u64> {
        // A panic elsewhere must not switch the limit off: the counts stay usable.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let rate = self.per_minute / 60.0;
        let prune_due = state
            .pruned
            .is_none_or(|at| now.saturating_duration_since(at) >= PRUNE_EVERY);
        if state.buckets.len() > PRUNE_ABOVE && prune_due {
            let cap = self.per_minute;
            state.buckets.retain(|_, (level, at)| {
                *level + now.saturating_duration_since(*at).as_secs_f64() * rate < cap
            });
            state.pruned = Some(now);
        }
        let (level, at) = state
            .buckets
            .entry(key.to_string())
            .or_insert((self.per_minute, now));
        *level =
            (*level + now.saturating_duration_since(*at).as_secs_f64() * rate).min(self.per_minute);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            // Whole seconds until one request's worth has refilled; at least one.
            let wait = ((1.0 - *level) / rate).ceil().max(1.0);
            Err(if wait < 3600.0 { wait as u64 } else { 3600 })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_key_has_its_own_minute() {
        let limiter = Limiter::new(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take("northwind/a", t0).is_ok());
        }
        assert_eq!(limiter.take("northwind/a", t0), Err(20));
        assert!(
            limiter.take("northwind/b", t0).is_ok(),
            "another repository"
        );
        assert!(
            limiter
                .take("northwind/a", t0 + Duration::from_secs(20))
                .is_ok()
        );
        assert!(
            limiter
                .take("northwind/a", t0 + Duration::from_secs(20))
                .is_err()
        );
    }
}
