//! Seeded fault injection: decorators that make any port fail on cue.
//!
//! `Faulty<T>` wraps a port (in-memory or real) and fails the next N calls of an operation with
//! the error the port's contract names for a transient failure, so the driver's retries and
//! parking are exercised exactly as a flaky network would.
//!
//! Each port method is forwarded by hand, as in `cd_service::blocking`: the two decorators
//! share a shape because every port needs one line per method, but they differ in what they do
//! around the call, and a generating macro would hide the signatures a reader checks against
//! the port traits. A new port method is a compile error in both until it is forwarded.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cd_core::pipeline::{
    CloudEvent, Deployment, DeploymentId, ManifestCommit, ManifestEdit, Reads, State, StateWrite,
};
use cd_ports::{
    DeploymentFilter, DeploymentView, ManifestRepo, Notifier, NotifyError, Registry, RegistryError,
    RepoError, Store, StoreError,
};
use serde::{Deserialize, Serialize};

/// An operation that can be made to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// `ManifestRepo::write`.
    GitPush,
    /// `Registry::create_tag`.
    RegistryTag,
    /// `Store::apply`.
    StoreApply,
    /// The simulated engine's status report.
    Engine,
    /// `Notifier::publish`.
    Notify,
    /// `ManifestRepo::write` loses a push race: another writer's commit lands first and the
    /// adapter re-applies the edits on the new head (not a failure the driver sees).
    GitRace,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 6] = [
        Operation::GitPush,
        Operation::RegistryTag,
        Operation::StoreApply,
        Operation::Engine,
        Operation::Notify,
        Operation::GitRace,
    ];

    /// The name used in scenarios.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::GitPush => "git-push",
            Operation::RegistryTag => "registry-tag",
            Operation::StoreApply => "store-apply",
            Operation::Engine => "engine",
            Operation::Notify => "notify",
            Operation::GitRace => "git-race",
        }
    }
}

impl FromStr for Operation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Operation::ALL.iter().map(|o| o.as_str()).collect();
                format!(
                    "unknown operation '{s}': expected one of {}",
                    all.join(", ")
                )
            })
    }
}

/// Which calls fail next. Shared by every decorator of one simulation.
#[derive(Debug, Default)]
pub struct Faults {
    next: Mutex<BTreeMap<Operation, u32>>,
    injected: Mutex<u64>,
}

impl Faults {
    /// No faults.
    #[must_use]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The next `times` calls of `op` fail.
    pub fn fail_next(&self, op: Operation, times: u32) {
        if let Ok(mut next) = self.next.lock() {
            *next.entry(op).or_default() += times;
        }
    }

    /// Consumes one planned failure of `op`, if any.
    pub fn take(&self, op: Operation) -> bool {
        let Ok(mut next) = self.next.lock() else {
            return false;
        };
        match next.get_mut(&op) {
            Some(n) if *n > 0 => {
                *n -= 1;
                if let Ok(mut injected) = self.injected.lock() {
                    *injected += 1;
                }
                true
            }
            _ => false,
        }
    }

    /// Forgets every planned failure.
    pub fn clear(&self) {
        if let Ok(mut next) = self.next.lock() {
            next.clear();
        }
    }

    /// How many failures were injected so far.
    #[must_use]
    pub fn injected(&self) -> u64 {
        self.injected.lock().map(|n| *n).unwrap_or_default()
    }
}

/// A port that fails on cue.
#[derive(Debug)]
pub struct Faulty<T: ?Sized> {
    inner: Arc<T>,
    faults: Arc<Faults>,
}

impl<T: ?Sized> Faulty<T> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<T>, faults: Arc<Faults>) -> Self {
        Faulty { inner, faults }
    }

    fn fail(&self, op: Operation) -> Option<String> {
        self.faults
            .take(op)
            .then(|| format!("injected {} failure", op.as_str()))
    }
}

#[async_trait]
impl<S: Store + ?Sized> Store for Faulty<S> {
    async fn load(&self, reads: &Reads) -> Result<State, StoreError> {
        self.inner.load(reads).await
    }

    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError> {
        if let Some(e) = self.fail(Operation::StoreApply) {
            return Err(StoreError::Unavailable(e));
        }
        self.inner.apply(writes).await
    }

    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentView>, StoreError> {
        self.inner.deployment(id).await
    }

    async fn list(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        self.inner.list(filter).await
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.inner.ready().await
    }
}

#[async_trait]
impl<R: Registry + ?Sized> Registry for Faulty<R> {
    async fn list_tags(
        &self,
        registry: &str,
        image: &str,
        prefix: &str,
    ) -> Result<Vec<String>, RegistryError> {
        self.inner.list_tags(registry, image, prefix).await
    }

    async fn resolve(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
    ) -> Result<String, RegistryError> {
        self.inner.resolve(registry, image, tag).await
    }

    async fn create_tag(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
        digest: &str,
    ) -> Result<(), RegistryError> {
        if let Some(e) = self.fail(Operation::RegistryTag) {
            return Err(RegistryError::Unavailable(e));
        }
        self.inner.create_tag(registry, image, tag, digest).await
    }
}

#[async_trait]
impl<M: ManifestRepo + ?Sized> ManifestRepo for Faulty<M> {
    async fn read(&self) -> Result<(String, Vec<(String, String)>), RepoError> {
        self.inner.read().await
    }

    async fn write(
        &self,
        edits: &[ManifestEdit],
        commit: &ManifestCommit,
    ) -> Result<Option<String>, RepoError> {
        if let Some(e) = self.fail(Operation::GitPush) {
            return Err(RepoError::Unavailable(e));
        }
        self.inner.write(edits, commit).await
    }

    async fn changed_files(&self, commit: &str) -> Result<Vec<String>, RepoError> {
        self.inner.changed_files(commit).await
    }

    async fn message(&self, commit: &str) -> Result<String, RepoError> {
        self.inner.message(commit).await
    }

    async fn commits_since(&self, since: Option<&str>) -> Result<Vec<String>, RepoError> {
        self.inner.commits_since(since).await
    }

    async fn reachable(&self) -> Result<(), RepoError> {
        self.inner.reachable().await
    }
}

#[async_trait]
impl<N: Notifier + ?Sized> Notifier for Faulty<N> {
    async fn publish(&self, event: &CloudEvent) -> Result<(), NotifyError> {
        if let Some(e) = self.fail(Operation::Notify) {
            return Err(NotifyError::Unavailable(e));
        }
        self.inner.publish(event).await
    }
}
