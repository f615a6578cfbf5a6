//! `Notifier` in memory: keeps every event published.

use std::sync::Mutex;

use async_trait::async_trait;
use cd_core::pipeline::CloudEvent;
use cd_ports::{Notifier, NotifyError};

/// Events in memory, in publication order.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    events: Mutex<Vec<CloudEvent>>,
}

impl MemoryNotifier {
    /// No events yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event published so far.
    #[must_use]
    pub fn events(&self) -> Vec<CloudEvent> {
        self.events_since(0)
    }

    /// The events published after the first `seen`.
    #[must_use]
    pub fn events_since(&self, seen: usize) -> Vec<CloudEvent> {
        self.events
            .lock()
            .map(|e| e.get(seen..).unwrap_or_default().to_vec())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn publish(&self, event: &CloudEvent) -> Result<(), NotifyError> {
        self.events
            .lock()
            .map_err(|_| NotifyError::Unavailable("lock poisoned".into()))?
            .push(event.clone());
        Ok(())
    }
}
