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
///
/// ```
/// use cd_core::pipeline::{CloudEvent, Timestamp};
/// use cd_ports::{Notifier, NotifyError};
///
/// # futures_executor::block_on(async {
/// let notifier = cd_memory::MemoryNotifier::new();
/// let event = CloudEvent {
///     specversion: "1.0".into(),
///     id: "d-1/succeeded".into(),
///     source: "/infrastream/cd-manager".into(),
///     event_type: "dev.infrastream.deployment.succeeded".into(),
///     subject: "d-1".into(),
///     time: Timestamp(0),
///     datacontenttype: "application/json".into(),
///     data: serde_json::json!({ "deployment": "d-1" }),
/// };
/// notifier.publish(&event).await?;
/// assert_eq!(notifier.events(), [event]);
/// # Ok::<(), NotifyError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Publishes one event.
    ///
    /// # Errors
    /// [`NotifyError::Unavailable`] (retried), [`NotifyError::Rejected`].
    async fn publish(&self, event: &CloudEvent) -> Result<(), NotifyError>;
}
