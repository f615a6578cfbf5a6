//! A shared sequence that orders events across in-memory adapters, so a simulation can ask
//! "did this tag exist when that commit was made?".

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonic counter shared by adapters.
#[derive(Debug, Default)]
pub struct Journal(AtomicU64);

impl Journal {
    /// The next sequence number (from 1).
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}
