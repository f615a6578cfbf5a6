//! Adapters that block (the git command line, SQLite, files) moved off the async runtime.
//!
//! The local adapters implement their async ports by doing blocking work in place: right for
//! the simulator and for tests, wrong inside a server, where one slow `git push` would stall a
//! runtime thread and every request queued on it. [`Blocking`] runs each call on tokio's
//! blocking pool instead.
//!
//! Each port method is forwarded by hand, as in `cd_memory::faults`: the same shape for the
//! same reason (one line per method of every port, the signatures in plain sight), and a new
//! port method does not compile until it is forwarded here too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use cd_core::pipeline::{
    CloudEvent, Deployment, DeploymentId, Hold, ManifestCommit, ManifestEdit, Reads, State,
    StateWrite, Timestamp,
};
use cd_ports::{
    DeploymentFilter, DeploymentView, ManifestRepo, Notifier, NotifyError, PullRequest, Registry,
    RegistryError, RepoError, SourceError, SourceHost, Store, StoreError,
};
use futures_executor::block_on;

/// A port implementation whose calls run on the blocking pool.
#[derive(Debug)]
pub struct Blocking<T: ?Sized>(pub Arc<T>);

/// Runs `f` on the blocking pool; `lost` turns a panicked call into the port's error.
async fn run<T: ?Sized + Send + Sync + 'static, R: Send + 'static>(
    inner: &Arc<T>,
    lost: impl FnOnce(String) -> R,
    f: impl FnOnce(&T) -> R + Send + 'static,
) -> R {
    let inner = inner.clone();
    match tokio::task::spawn_blocking(move || f(&inner)).await {
        Ok(r) => r,
        Err(e) => lost(format!("adapter call failed: {e}")),
    }
}

#[async_trait]
impl<T: Store + ?Sized> Store for Blocking<T> {
    async fn load(&self, reads: &Reads) -> Result<State, StoreError> {
        let reads = reads.clone();
        run(
            &self.0,
            |e| Err(StoreError::Unavailable(e)),
            move |s| block_on(s.load(&reads)),
        )
        .await
    }

    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError> {
        let writes = writes.to_vec();
        run(
            &self.0,
            |e| Err(StoreError::Unavailable(e)),
            move |s| block_on(s.apply(&writes)),
        )
        .await
    }

    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentView>, StoreError> {
        let id = id.clone();
        run(
            &self.0,
            |e| Err(StoreError::Unavailable(e)),
            move |s| block_on(s.deployment(&id)),
        )
        .await
    }

    async fn list(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        let filter = filter.clone();
        run(
            &self.0,
            |e| Err(StoreError::Unavailable(e)),
            move |s| block_on(s.list(&filter)),
        )
        .await
    }

    async fn holds(&self) -> Result<BTreeMap<String, Hold>, StoreError> {
        run(
            &self.0,
            |e| Err(StoreError::Unavailable(e)),
            move |s| block_on(s.holds()),
        )
        .await
    }

    async fn change_times(
        &self,
        builds: &BTreeSet<(String, String)>,
    ) -> Result<BTreeMap<(String, String), Timestamp>, StoreError> {
        let builds = builds.clone();
        run(
            &self.0,
            |e| Err(StoreError::Unavailable(e)),
            move |s| block_on(s.change_times(&builds)),
        )
        .await
    }

    async fn waiting_on_people(&self) -> Result<Vec<DeploymentView>, StoreError> {
        run(
            &self.0,
            |e| Err(StoreError::Unavailable(e)),
            move |s| block_on(s.waiting_on_people()),
        )
        .await
    }

    async fn ready(&self) -> Result<(), StoreError> {
        run(
            &self.0,
            |e| Err(StoreError::Unavailable(e)),
            move |s| block_on(s.ready()),
        )
        .await
    }
}

#[async_trait]
impl<T: ManifestRepo + ?Sized> ManifestRepo for Blocking<T> {
    async fn read(&self) -> Result<(String, Vec<(String, String)>), RepoError> {
        run(
            &self.0,
            |e| Err(RepoError::Unavailable(e)),
            |r| block_on(r.read()),
        )
        .await
    }

    async fn write(
        &self,
        edits: &[ManifestEdit],
        commit: &ManifestCommit,
    ) -> Result<Option<String>, RepoError> {
        let (edits, commit) = (edits.to_vec(), commit.clone());
        run(
            &self.0,
            |e| Err(RepoError::Unavailable(e)),
            move |r| block_on(r.write(&edits, &commit)),
        )
        .await
    }

    async fn changed_files(&self, commit: &str) -> Result<Vec<String>, RepoError> {
        let commit = commit.to_string();
        run(
            &self.0,
            |e| Err(RepoError::Unavailable(e)),
            move |r| block_on(r.changed_files(&commit)),
        )
        .await
    }

    async fn message(&self, commit: &str) -> Result<String, RepoError> {
        let commit = commit.to_string();
        run(
            &self.0,
            |e| Err(RepoError::Unavailable(e)),
            move |r| block_on(r.message(&commit)),
        )
        .await
    }

    async fn commits_since(&self, since: Option<&str>) -> Result<Vec<String>, RepoError> {
        let since = since.map(str::to_string);
        run(
            &self.0,
            |e| Err(RepoError::Unavailable(e)),
            move |r| block_on(r.commits_since(since.as_deref())),
        )
        .await
    }

    async fn reachable(&self) -> Result<(), RepoError> {
        run(
            &self.0,
            |e| Err(RepoError::Unavailable(e)),
            move |r| block_on(r.reachable()),
        )
        .await
    }
}

#[async_trait]
impl<T: Registry + ?Sized> Registry for Blocking<T> {
    async fn list_tags(
        &self,
        registry: &str,
        image: &str,
        prefix: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let (registry, image, prefix) =
            (registry.to_string(), image.to_string(), prefix.to_string());
        run(
            &self.0,
            |e| Err(RegistryError::Unavailable(e)),
            move |r| block_on(r.list_tags(&registry, &image, &prefix)),
        )
        .await
    }

    async fn resolve(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
    ) -> Result<String, RegistryError> {
        let (registry, image, tag) = (registry.to_string(), image.to_string(), tag.to_string());
        run(
            &self.0,
            |e| Err(RegistryError::Unavailable(e)),
            move |r| block_on(r.resolve(&registry, &image, &tag)),
        )
        .await
    }

    async fn create_tag(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let (registry, image, tag, digest) = (
            registry.to_string(),
            image.to_string(),
            tag.to_string(),
            digest.to_string(),
        );
        run(
            &self.0,
            |e| Err(RegistryError::Unavailable(e)),
            move |r| block_on(r.create_tag(&registry, &image, &tag, &digest)),
        )
        .await
    }
}

#[async_trait]
impl<T: SourceHost + ?Sized> SourceHost for Blocking<T> {
    async fn create_branch(
        &self,
        repository: &str,
        branch: &str,
        from_tag: &str,
    ) -> Result<String, SourceError> {
        let (repository, branch, from_tag) = (
            repository.to_string(),
            branch.to_string(),
            from_tag.to_string(),
        );
        run(
            &self.0,
            |e| Err(SourceError::Unavailable(e)),
            move |s| block_on(s.create_branch(&repository, &branch, &from_tag)),
        )
        .await
    }

    async fn create_release(
        &self,
        repository: &str,
        tag: &str,
        name: &str,
        notes: &str,
    ) -> Result<(), SourceError> {
        let (repository, tag, name, notes) = (
            repository.to_string(),
            tag.to_string(),
            name.to_string(),
            notes.to_string(),
        );
        run(
            &self.0,
            |e| Err(SourceError::Unavailable(e)),
            move |s| block_on(s.create_release(&repository, &tag, &name, &notes)),
        )
        .await
    }

    async fn tag_commit(&self, repository: &str, tag: &str) -> Result<Option<String>, SourceError> {
        let (repository, tag) = (repository.to_string(), tag.to_string());
        run(
            &self.0,
            |e| Err(SourceError::Unavailable(e)),
            move |s| block_on(s.tag_commit(&repository, &tag)),
        )
        .await
    }

    async fn pull_request_of(
        &self,
        repository: &str,
        commit: &str,
    ) -> Result<Option<PullRequest>, SourceError> {
        let (repository, commit) = (repository.to_string(), commit.to_string());
        run(
            &self.0,
            |e| Err(SourceError::Unavailable(e)),
            move |s| block_on(s.pull_request_of(&repository, &commit)),
        )
        .await
    }
}

#[async_trait]
impl<T: Notifier + ?Sized> Notifier for Blocking<T> {
    async fn publish(&self, event: &CloudEvent) -> Result<(), NotifyError> {
        let event = event.clone();
        run(
            &self.0,
            |e| Err(NotifyError::Unavailable(e)),
            move |n| block_on(n.publish(&event)),
        )
        .await
    }
}
