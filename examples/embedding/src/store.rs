//! The host's own Store: every decision's writes appended to the host's journal (a table of
//! JSON rows it already keeps, say), and the state the pipeline reads folded from it with the
//! core's reference semantics (`State::apply`). Replaying the journal after a restart gives
//! back exactly the state the Driver left.

use std::sync::Mutex;

use async_trait::async_trait;
use cd_core::pipeline::{ApplyError, Deployment, DeploymentId, Reads, State, StateWrite};
use cd_ports::{DeploymentFilter, DeploymentView, Store, StoreError};

/// The host's store.
#[derive(Debug, Default)]
pub struct JournalStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The host's table: one JSON row per decision, in commit order.
    journal: Vec<String>,
    /// The state those rows fold into.
    state: State,
}

impl JournalStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> JournalStore {
        JournalStore::default()
    }

    /// A store rebuilt from the host's rows, as after a restart.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the row that does not read or apply.
    pub fn replay(rows: &[String]) -> Result<JournalStore, StoreError> {
        let mut inner = Inner::default();
        for (i, row) in rows.iter().enumerate() {
            let writes: Vec<StateWrite> = serde_json::from_str(row)
                .map_err(|e| StoreError::Corrupt(format!("journal row {i}: {e}")))?;
            inner
                .state
                .apply(&writes)
                .map_err(|e| StoreError::Corrupt(format!("journal row {i}: {e}")))?;
            inner.journal.push(row.clone());
        }
        Ok(JournalStore {
            inner: Mutex::new(inner),
        })
    }

    /// The host's rows, oldest first.
    #[must_use]
    pub fn rows(&self) -> Vec<String> {
        self.inner
            .lock()
            .map(|i| i.journal.clone())
            .unwrap_or_default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Corrupt("store lock poisoned".into()))
    }
}

#[async_trait]
impl Store for JournalStore {
    async fn load(&self, reads: &Reads) -> Result<State, StoreError> {
        Ok(self.lock()?.state.select(reads))
    }

    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError> {
        let row = serde_json::to_string(writes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut inner = self.lock()?;
        // Checked and applied to a copy first: a refused decision leaves no row behind.
        let mut next = inner.state.clone();
        next.apply(writes).map_err(|e| match e {
            ApplyError::Conflict(what) => StoreError::Conflict(what),
            other => StoreError::Corrupt(other.to_string()),
        })?;
        inner.state = next;
        inner.journal.push(row);
        Ok(())
    }

    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentView>, StoreError> {
        Ok(DeploymentView::of(&self.lock()?.state, id))
    }

    async fn list(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        Ok(filter.select(self.lock()?.state.deployments.values().cloned()))
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.lock().map(|_| ())
    }
}
