//! `SourceHost` in memory: repositories with tags, branches, releases and pull requests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use cd_ports::{PullRequest, SourceError, SourceHost};

#[derive(Debug, Default, Clone)]
struct Repo {
    tags: BTreeMap<String, String>,
    branches: BTreeMap<String, String>,
    releases: BTreeMap<String, (String, String)>,
    pulls: BTreeMap<String, PullRequest>,
}

/// Source repositories in memory.
#[derive(Debug, Default)]
pub struct MemorySourceHost {
    repos: Mutex<BTreeMap<String, Repo>>,
}

impl MemorySourceHost {
    /// No repositories yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Tags `commit` in `repository` (creating the repository), as CI's tag job would.
    pub fn tag(&self, repository: &str, tag: &str, commit: &str) {
        if let Ok(mut repos) = self.repos.lock() {
            repos
                .entry(repository.to_string())
                .or_default()
                .tags
                .entry(tag.to_string())
                .or_insert_with(|| commit.to_string());
        }
    }

    /// Records the pull request that produced `commit`.
    pub fn add_pull_request(&self, repository: &str, commit: &str, pr: PullRequest) {
        if let Ok(mut repos) = self.repos.lock() {
            repos
                .entry(repository.to_string())
                .or_default()
                .pulls
                .insert(commit.to_string(), pr);
        }
    }

    /// Branches per repository.
    #[must_use]
    pub fn branches(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.repos
            .lock()
            .map(|r| {
                r.iter()
                    .filter(|(_, repo)| !repo.branches.is_empty())
                    .map(|(name, repo)| (name.clone(), repo.branches.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Release names per repository and tag.
    #[must_use]
    pub fn releases(&self) -> BTreeMap<String, Vec<String>> {
        self.repos
            .lock()
            .map(|r| {
                r.iter()
                    .filter(|(_, repo)| !repo.releases.is_empty())
                    .map(|(name, repo)| (name.clone(), repo.releases.keys().cloned().collect()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl MemorySourceHost {
    fn locked(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, Repo>>, SourceError> {
        self.repos
            .lock()
            .map_err(|_| SourceError::Unavailable("lock poisoned".into()))
    }
}

/// Repository `repository`, or `NotFound` naming it.
fn existing<'a>(
    repos: &'a mut BTreeMap<String, Repo>,
    repository: &str,
) -> Result<&'a mut Repo, SourceError> {
    repos
        .get_mut(repository)
        .ok_or_else(|| SourceError::NotFound(format!("repository {repository}")))
}

#[async_trait]
impl SourceHost for MemorySourceHost {
    async fn create_branch(
        &self,
        repository: &str,
        branch: &str,
        from_tag: &str,
    ) -> Result<String, SourceError> {
        let mut repos = self.locked()?;
        let repo = existing(&mut repos, repository)?;
        if let Some(at) = repo.branches.get(branch) {
            return Ok(at.clone());
        }
        let at = repo
            .tags
            .get(from_tag)
            .cloned()
            .ok_or_else(|| SourceError::NotFound(format!("tag {from_tag} in {repository}")))?;
        repo.branches.insert(branch.to_string(), at.clone());
        Ok(at)
    }

    async fn create_release(
        &self,
        repository: &str,
        tag: &str,
        name: &str,
        notes: &str,
    ) -> Result<(), SourceError> {
        let mut repos = self.locked()?;
        let repo = existing(&mut repos, repository)?;
        repo.releases
            .entry(tag.to_string())
            .or_insert_with(|| (name.to_string(), notes.to_string()));
        Ok(())
    }

    async fn tag_commit(&self, repository: &str, tag: &str) -> Result<Option<String>, SourceError> {
        let mut repos = self.locked()?;
        let repo = existing(&mut repos, repository)?;
        Ok(repo.tags.get(tag).cloned())
    }

    async fn pull_request_of(
        &self,
        repository: &str,
        commit: &str,
    ) -> Result<Option<PullRequest>, SourceError> {
        let mut repos = self.locked()?;
        let repo = existing(&mut repos, repository)?;
        Ok(repo.pulls.get(commit).cloned())
    }
}
