//! The `SourceHost` contract.

use async_trait::async_trait;
use cd_ports::{SourceError, SourceHost};

/// A source host under test with a repository `repository` whose tag `tag` points at `commit`.
#[async_trait]
pub trait SourceFixture: Send + Sync {
    /// The adapter under test.
    fn host(&self) -> &dyn SourceHost;
    /// (repository, tag, the tag's commit).
    fn tagged(&self) -> (String, String, String);
    /// Adds a commit to the repository, tags it, and returns (tag, commit).
    async fn advance(&self) -> (String, String);
}

/// Runs the `SourceHost` contract.
pub async fn source_contract(f: &dyn SourceFixture) {
    let host = f.host();
    let (repo, tag, commit) = f.tagged();
    let branch = "release/shop/2026.11";
    assert_eq!(
        host.create_branch(&repo, branch, &tag).await,
        Ok(commit.clone()),
        "a branch starts at the tag's commit"
    );
    assert_eq!(
        host.create_branch(&repo, branch, &tag).await,
        Ok(commit.clone()),
        "creating it again is success"
    );
    assert_eq!(
        host.tag_commit(&repo, &tag).await,
        Ok(Some(commit.clone())),
        "a tag names its commit"
    );
    assert_eq!(
        host.tag_commit(&repo, "v9.9.9").await,
        Ok(None),
        "a missing tag is none, not an error"
    );
    let no_repo = host.tag_commit("no-such-repo", &tag).await;
    assert!(
        matches!(no_repo, Ok(None) | Err(SourceError::NotFound(_))),
        "a missing repository has no tags: {no_repo:?}"
    );
    let (later_tag, later) = f.advance().await;
    assert_eq!(
        host.tag_commit(&repo, &later_tag).await,
        Ok(Some(later.clone())),
        "a new tag is seen at once"
    );
    assert_ne!(later, commit);
    assert_eq!(
        host.create_branch(&repo, branch, &later_tag).await,
        Ok(commit.clone()),
        "an existing branch is never moved"
    );
    let missing = host
        .create_branch(&repo, "release/shop/2026.12", "v9.9.9")
        .await;
    assert!(
        matches!(missing, Err(SourceError::NotFound(_))),
        "a missing tag: {missing:?}"
    );
    let unknown = host.create_branch("no-such-repo", branch, &tag).await;
    assert!(
        matches!(unknown, Err(SourceError::NotFound(_))),
        "a missing repository: {unknown:?}"
    );
    host.create_release(&repo, &tag, "shop 2026.11", "notes")
        .await
        .unwrap();
    host.create_release(&repo, &tag, "shop 2026.11", "notes")
        .await
        .unwrap();
    assert_eq!(host.pull_request_of(&repo, "0000000").await, Ok(None));
}
