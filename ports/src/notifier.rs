//! `Notifier`: where events go.

use async_trait::async_trait;
use cd_core::pipeline::CloudEvent;

/// Why an event could not be published.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The destination cannot be reached. Retried; after the budget the event is dropped and
    /// counted, never blocking a deployment.
    #[error("notifier unavailable: {0}")]
    Unavailable(String),
    /// The event was refused.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// Publishes CloudEvents. Event ids are deterministic, so consumers can deduplicate repeats.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Publishes one event.
    ///
    /// # Errors
    /// [`NotifyError::Unavailable`] (retried), [`NotifyError::Rejected`].
    async fn publish(&self, event: &CloudEvent) -> Result<(), NotifyError>;
}
