//! `Store` in memory: a `State` behind a lock, with `State::apply`'s reference semantics.

use std::sync::Mutex;

use async_trait::async_trait;
use cd_core::pipeline::{ApplyError, Deployment, DeploymentId, Reads, State, StateWrite};
use cd_ports::{DeploymentFilter, DeploymentView, Store, StoreError};

/// The pipeline state in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of everything stored.
    #[must_use]
    pub fn snapshot(&self) -> State {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Corrupt("store lock poisoned".into()))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn load(&self, reads: &Reads) -> Result<State, StoreError> {
        Ok(self.lock()?.select(reads))
    }

    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError> {
        self.lock()?.apply(writes).map_err(|e| match e {
            ApplyError::Conflict(what) => StoreError::Conflict(what),
            other => StoreError::Corrupt(other.to_string()),
        })
    }

    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentView>, StoreError> {
        Ok(DeploymentView::of(&*self.lock()?, id))
    }

    async fn list(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        let state = self.lock()?;
        Ok(filter.select(state.deployments.values().cloned()))
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.lock().map(|_| ())
    }
}
