//! Exponential backoff: the one rule every retry in the driver and the effect loop follows.

/// Waits that double after each failure, up to a ceiling, and start over after a success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    first_ms: u64,
    max_ms: u64,
    next_ms: u64,
}

impl Backoff {
    /// Waits of `first_ms`, then twice that, and so on up to `max_ms`.
    ///
    /// ```
    /// let mut b = cd_ports::Backoff::new(200, 1_000);
    /// assert_eq!([b.next_wait(), b.next_wait(), b.next_wait(), b.next_wait()], [200, 400, 800, 1_000]);
    /// b.reset();
    /// assert_eq!(b.next_wait(), 200);
    /// ```
    #[must_use]
    pub fn new(first_ms: u64, max_ms: u64) -> Self {
        let first_ms = first_ms.min(max_ms);
        Backoff {
            first_ms,
            max_ms,
            next_ms: first_ms,
        }
    }

    /// The wait before the next attempt; the one after it is twice as long.
    pub fn next_wait(&mut self) -> u64 {
        let wait = self.next_ms;
        self.next_ms = self.next_ms.saturating_mul(2).min(self.max_ms);
        wait
    }

    /// After a success: the next failure waits `first_ms` again.
    pub fn reset(&mut self) {
        self.next_ms = self.first_ms;
    }
}
