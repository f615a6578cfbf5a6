//! `SourceHost` over local bare repositories: what `serve` and `demo` use where production talks
//! to GitHub. Repository `org/name` lives at `<root>/org/name.git`; release branches are real
//! branches there, and a release is a Markdown file next to it (local git has no releases).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use cd_ports::{PullRequest, SourceError, SourceHost};

use crate::{RepoError, run_git, text};

/// Source repositories as bare git repositories under one directory, and any named one at a
/// path of its own.
#[derive(Clone, Debug)]
pub struct LocalSourceHost {
    root: PathBuf,
    paths: std::collections::BTreeMap<String, PathBuf>,
}

fn valid_name(repository: &str) -> bool {
    !repository.is_empty()
        && repository.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
}

/// Where a repository's release notes go: `releases/` of a bare repository, and inside the git
/// directory of one with a working tree (never among the user's files; a worktree's or a
/// submodule's `.git` is a file naming its git directory, which git resolves).
fn releases_dir(repository: &Path) -> PathBuf {
    let dot_git = repository.join(".git");
    if dot_git.is_dir() {
        return dot_git.join("infrastream-releases");
    }
    if dot_git.is_file() {
        let git_dir = run_git(Some(repository), None, &["rev-parse", "--absolute-git-dir"])
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(text(&o.stdout)));
        if let Some(dir) = git_dir {
            return dir.join("infrastream-releases");
        }
    }
    repository.join("releases")
}

fn source_error(e: RepoError) -> SourceError {
    match e {
        RepoError::NotFound(m) => SourceError::NotFound(m),
        other => SourceError::Unavailable(other.to_string()),
    }
}

impl LocalSourceHost {
    /// Source repositories under `root`.
    #[must_use]
    pub fn new(root: &Path) -> Self {
        LocalSourceHost {
            root: root.to_path_buf(),
            paths: std::collections::BTreeMap::new(),
        }
    }

    /// Keeps `repository` at `path` (any git repository, bare or with a working tree) instead
    /// of `<root>/<repository>.git`.
    #[must_use]
    pub fn with_repository(mut self, repository: &str, path: &Path) -> Self {
        self.paths
            .insert(repository.to_string(), path.to_path_buf());
        self
    }

    /// Where repository `org/name` lives (it need not exist).
    ///
    /// # Errors
    /// [`SourceError::NotFound`] when the name is not a safe relative path.
    pub fn path_of(&self, repository: &str) -> Result<PathBuf, SourceError> {
        if let Some(path) = self.paths.get(repository) {
            return Ok(path.clone());
        }
        if !valid_name(repository) {
            return Err(SourceError::NotFound(format!(
                "'{repository}' is not a repository name"
            )));
        }
        Ok(self.root.join(format!("{repository}.git")))
    }

    fn existing(&self, repository: &str) -> Result<PathBuf, SourceError> {
        let path = self.path_of(repository)?;
        if path.is_dir() {
            Ok(path)
        } else {
            Err(SourceError::NotFound(format!(
                "repository {repository} (no bare repository at {})",
                path.display()
            )))
        }
    }

    fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output, SourceError> {
        run_git(Some(dir), None, args).map_err(source_error)
    }

    fn rev(dir: &Path, rev: &str) -> Result<Option<String>, SourceError> {
        let out = Self::git(dir, &["rev-parse", "--verify", "--quiet", rev])?;
        Ok(out.status.success().then(|| text(&out.stdout)))
    }

    /// The release notes written for `tag` of `repository`, if any.
    #[must_use]
    pub fn release_notes(&self, repository: &str, tag: &str) -> Option<String> {
        let path = self.path_of(repository).ok()?;
        std::fs::read_to_string(releases_dir(&path).join(format!("{tag}.md"))).ok()
    }
}

#[async_trait]
impl SourceHost for LocalSourceHost {
    async fn create_branch(
        &self,
        repository: &str,
        branch: &str,
        from_tag: &str,
    ) -> Result<String, SourceError> {
        let dir = self.existing(repository)?;
        let branch_ref = format!("refs/heads/{branch}");
        if let Some(at) = Self::rev(&dir, &branch_ref)? {
            return Ok(at); // Never moved: it may carry hotfix commits.
        }
        let target = Self::rev(&dir, &format!("refs/tags/{from_tag}^{{commit}}"))?
            .ok_or_else(|| SourceError::NotFound(format!("tag {from_tag} in {repository}")))?;
        // The empty old value makes the update fail if someone created the branch meanwhile.
        let out = Self::git(&dir, &["update-ref", &branch_ref, &target, ""])?;
        if out.status.success() {
            return Ok(target);
        }
        Self::rev(&dir, &branch_ref)?.ok_or_else(|| {
            SourceError::Unavailable(format!(
                "creating {branch} in {repository}: {}",
                text(&out.stderr)
            ))
        })
    }

    async fn create_release(
        &self,
        repository: &str,
        tag: &str,
        name: &str,
        notes: &str,
    ) -> Result<(), SourceError> {
        let dir = self.existing(repository)?;
        if !valid_name(tag) || tag.contains('/') {
            return Err(SourceError::NotFound(format!("'{tag}' is not a tag name")));
        }
        let releases = releases_dir(&dir);
        let path = releases.join(format!("{tag}.md"));
        if path.exists() {
            return Ok(());
        }
        let io = |e: std::io::Error| SourceError::Unavailable(format!("{}: {e}", path.display()));
        std::fs::create_dir_all(&releases).map_err(io)?;
        // Written aside and renamed, so a crash never leaves half a release.
        let tmp = releases.join(format!(".{tag}.md.tmp"));
        std::fs::write(&tmp, format!("# {name}\n\n{notes}\n")).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }

    async fn tag_commit(&self, repository: &str, tag: &str) -> Result<Option<String>, SourceError> {
        let dir = self.existing(repository)?;
        if tag.starts_with('-') {
            return Ok(None); // Never an option to git; no tag starts with it either.
        }
        Self::rev(&dir, &format!("refs/tags/{tag}^{{commit}}"))
    }

    async fn pull_request_of(
        &self,
        repository: &str,
        _commit: &str,
    ) -> Result<Option<PullRequest>, SourceError> {
        // Local repositories have no pull requests.
        self.existing(repository).map(|_| None)
    }
}
