//! `ManifestRepo`: the git repository that holds the manifests.

use async_trait::async_trait;
use cd_core::pipeline::{ManifestCommit, ManifestEdit};

/// Why a manifest repository operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// Someone else changed the same line since it was read (a human edit to a version line),
    /// or the push kept losing races beyond the adapter's bound. Not retried by the driver.
    #[error("conflict: {0}")]
    Conflict(String),
    /// An edit cannot be applied: the file or DeploymentConfig is missing, or the version edit
    /// refuses the file (see `cd_core::manifest::EditError`).
    #[error("invalid edit: {0}")]
    Invalid(String),
    /// The remote cannot be reached. Retried.
    #[error("repository unavailable: {0}")]
    Unavailable(String),
    /// The commit does not exist.
    #[error("not found: {0}")]
    NotFound(String),
}

/// The manifest repository: read at the head, write version edits as commits, list changes.
///
/// ```
/// use cd_core::pipeline::{ManifestCommit, ManifestEdit};
/// use cd_ports::{ManifestRepo, RepoError};
///
/// # futures_executor::block_on(async {
/// let repo = cd_memory::MemoryRepo::new(cd_memory::minimal_tenant());
/// let edit = ManifestEdit {
///     path: "api/development.yaml".into(),
///     application: "api".into(),
///     environment: "development".into(),
///     version: "v1.0.0".into(),
/// };
/// let commit = ManifestCommit { message: "api v1.0.0 to development".into(), promotion: None };
/// let id = repo.write(&[edit.clone()], &commit).await?.expect("one commit");
/// assert_eq!(repo.changed_files(&id).await?, ["api/development.yaml"]);
/// // The file already holds the version: nothing to commit.
/// assert_eq!(repo.write(&[edit], &commit).await?, None);
/// # Ok::<(), RepoError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait ManifestRepo: Send + Sync + 'static {
    /// Every manifest file (`*.yaml`, `*.yml`) at the head of the branch, as (path, text), and
    /// the head commit id.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`].
    async fn read(&self) -> Result<(String, Vec<(String, String)>), RepoError>;

    /// Sets each edit's `spec.version` with the format-preserving editor and pushes one commit
    /// with `commit.message`, returning its id. Returns `None` when every file already holds its
    /// version and no commit is needed. When `commit` is a promotion and a commit of the same
    /// promotion (by its trailers, read with `Promotion::parse`) is already on the branch (a
    /// repeat after a crash), returns that commit without writing. Adapters format no message
    /// of their own. A lost push race is retried on the new head (bounded); a commit
    /// of another writer is never lost and nothing is force-pushed.
    ///
    /// # Errors
    /// [`RepoError::Conflict`] when another writer changed a line being edited;
    /// [`RepoError::Invalid`] when an edit cannot be applied; [`RepoError::Unavailable`].
    async fn write(
        &self,
        edits: &[ManifestEdit],
        commit: &ManifestCommit,
    ) -> Result<Option<String>, RepoError>;

    /// Paths changed by `commit` relative to its first parent (the engine's scope).
    ///
    /// # Errors
    /// [`RepoError::NotFound`], [`RepoError::Unavailable`].
    async fn changed_files(&self, commit: &str) -> Result<Vec<String>, RepoError>;

    /// The full message of `commit`.
    ///
    /// # Errors
    /// [`RepoError::NotFound`], [`RepoError::Unavailable`].
    async fn message(&self, commit: &str) -> Result<String, RepoError>;

    /// Commits after `since` (exclusive; all when `None`) up to the head, oldest first.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when `since` is unknown, [`RepoError::Unavailable`].
    async fn commits_since(&self, since: Option<&str>) -> Result<Vec<String>, RepoError>;

    /// Whether the remote answers and has the branch (readiness): cheaper than a read, since
    /// nothing is fetched.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] saying what is wrong.
    async fn reachable(&self) -> Result<(), RepoError>;
}
