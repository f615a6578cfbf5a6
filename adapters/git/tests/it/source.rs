//! `LocalSourceHost` on real bare repositories.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use cd_contract::{SourceFixture, source_contract};
use cd_git::LocalSourceHost;
use cd_ports::SourceHost;
use futures_executor::block_on;

use crate::fixture::git;

struct Sources {
    _dir: tempfile::TempDir,
    host: LocalSourceHost,
    bare: PathBuf,
    work: PathBuf,
    first: (String, String),
    next: Mutex<u32>,
}

fn commit_and_tag(work: &Path, bare: &Path, tag: &str) -> String {
    std::fs::write(work.join("VERSION"), tag).unwrap();
    git(work, &["add", "VERSION"]);
    git(
        work,
        &["commit", "--quiet", "-m", &format!("release {tag}")],
    );
    git(work, &["tag", tag]);
    let bare = bare.to_string_lossy().into_owned();
    git(
        work,
        &["push", "--quiet", &bare, "HEAD:refs/heads/main", "--tags"],
    );
    git(work, &["rev-parse", "HEAD"]).trim().to_string()
}

impl Sources {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let host = LocalSourceHost::new(&dir.path().join("sources"));
        let bare = host.path_of("northwind/shop-api").unwrap();
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "--quiet", "--bare", "-b", "main"]);
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "--quiet", "-b", "main"]);
        git(&work, &["config", "user.name", "CI"]);
        git(&work, &["config", "user.email", "ci@example.invalid"]);
        let commit = commit_and_tag(&work, &bare, "v1.0.0");
        Sources {
            _dir: dir,
            host,
            bare,
            work,
            first: ("v1.0.0".into(), commit),
            next: Mutex::new(1),
        }
    }
}

#[async_trait]
impl SourceFixture for Sources {
    fn host(&self) -> &dyn SourceHost {
        &self.host
    }

    fn tagged(&self) -> (String, String, String) {
        (
            "northwind/shop-api".into(),
            self.first.0.clone(),
            self.first.1.clone(),
        )
    }

    async fn advance(&self) -> (String, String) {
        let mut next = self.next.lock().unwrap();
        *next += 1;
        let tag = format!("v1.{next}.0");
        let commit = commit_and_tag(&self.work, &self.bare, &tag);
        (tag, commit)
    }
}

#[test]
fn bare_source_repositories_keep_the_source_contract() {
    let sources = Sources::new();
    block_on(source_contract(&sources));
    // The branch is a real branch of the bare repository, at the first tag's commit.
    let at = git(
        &sources.bare,
        &["rev-parse", "refs/heads/release/shop/2026.11"],
    );
    assert_eq!(at.trim(), sources.first.1);
    let notes = sources
        .host
        .release_notes("northwind/shop-api", "v1.0.0")
        .unwrap();
    assert!(notes.starts_with("# shop 2026.11\n"), "{notes}");
}

#[test]
fn repository_names_cannot_escape_the_root() {
    let sources = Sources::new();
    for name in ["../etc", "a/../../b", "", "/abs"] {
        let e = block_on(sources.host.create_branch(name, "release/x/1", "v1.0.0"));
        // Refused by name, before any path is looked at (`../etc.git` does not exist here
        // either, so a mere NotFound would not tell).
        assert!(
            matches!(e, Err(cd_ports::SourceError::NotFound(ref m)) if m.contains("is not a repository name")),
            "{name}: {e:?}"
        );
    }
}
