//! `SourceHost`: where application source lives (GitHub in production).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Why a source host operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The repository, tag or commit does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The host cannot be reached or rate-limited us. Retried.
    #[error("source host unavailable: {0}")]
    Unavailable(String),
    /// Credentials were refused.
    #[error("denied: {0}")]
    Denied(String),
}

/// A pull request, as far as versioning needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// Its title.
    pub title: String,
    /// Its labels.
    pub labels: Vec<String>,
    /// Its author's login.
    pub author: String,
}

/// Branches, releases and pull requests of source repositories (GithubRepository names).
///
/// ```
/// use cd_ports::{SourceError, SourceHost};
///
/// # futures_executor::block_on(async {
/// let source = cd_memory::MemorySourceHost::new();
/// source.tag("api", "v1.0.0", "c0ffee");
/// assert_eq!(source.create_branch("api", "release/shop/2026.11", "v1.0.0").await?, "c0ffee");
/// // An existing release branch is never moved: it may carry hotfixes.
/// source.tag("api", "v1.0.1", "beef");
/// assert_eq!(source.create_branch("api", "release/shop/2026.11", "v1.0.1").await?, "c0ffee");
/// # Ok::<(), SourceError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait SourceHost: Send + Sync + 'static {
    /// Creates `branch` at the commit `from_tag` points at and returns where the branch points.
    /// An existing branch is success and is never moved (it may carry hotfix commits): its
    /// current commit is returned.
    ///
    /// # Errors
    /// [`SourceError::NotFound`] when the repository or tag does not exist; `Unavailable`,
    /// `Denied`.
    async fn create_branch(
        &self,
        repository: &str,
        branch: &str,
        from_tag: &str,
    ) -> Result<String, SourceError>;

    /// Creates a release for `tag` with `notes`; an existing release for the tag is success.
    ///
    /// # Errors
    /// [`SourceError::NotFound`], `Unavailable`, `Denied`.
    async fn create_release(
        &self,
        repository: &str,
        tag: &str,
        name: &str,
        notes: &str,
    ) -> Result<(), SourceError>;

    /// The commit `tag` of `repository` names (an annotated tag followed to its commit), or
    /// `None` when the repository has no such tag. Asked before a release is accepted: its
    /// branches start at these tags.
    ///
    /// # Errors
    /// [`SourceError::NotFound`] when the repository does not exist; `Unavailable`, `Denied`.
    async fn tag_commit(&self, repository: &str, tag: &str) -> Result<Option<String>, SourceError>;

    /// The pull request that produced `commit`, if any.
    ///
    /// # Errors
    /// [`SourceError::NotFound`] when the repository does not exist; `Unavailable`, `Denied`.
    async fn pull_request_of(
        &self,
        repository: &str,
        commit: &str,
    ) -> Result<Option<PullRequest>, SourceError>;
}
