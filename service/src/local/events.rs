//! CloudEvents to a JSON-lines file, one event per line in the CloudEvents JSON format: the
//! local stand-in for Pub/Sub.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use cd_core::pipeline::CloudEvent;
use cd_ports::{Notifier, NotifyError};

/// Events appended as JSON lines to a file: the local stand-in for Pub/Sub. Ids are
/// deterministic, so a consumer drops the repeats a crash can cause.
#[derive(Debug)]
pub struct JsonlNotifier {
    path: PathBuf,
    lock: Mutex<()>,
}

impl JsonlNotifier {
    /// Appends to `path`.
    #[must_use]
    pub fn new(path: &Path) -> Self {
        JsonlNotifier {
            path: path.to_path_buf(),
            lock: Mutex::new(()),
        }
    }
}

#[async_trait]
impl Notifier for JsonlNotifier {
    async fn publish(&self, event: &CloudEvent) -> Result<(), NotifyError> {
        // The CloudEvents JSON format: `time` in RFC 3339, as the specification asks.
        let line = event.structured().to_string();
        let _guard = self
            .lock
            .lock()
            .map_err(|_| NotifyError::Unavailable("lock poisoned".into()))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| NotifyError::Unavailable(format!("{}: {e}", self.path.display())))?;
        writeln!(f, "{line}")
            .map_err(|e| NotifyError::Unavailable(format!("{}: {e}", self.path.display())))?;
        tracing::info!(deployment = %event.subject, event = %event.event_type, id = %event.id, "event");
        Ok(())
    }
}
