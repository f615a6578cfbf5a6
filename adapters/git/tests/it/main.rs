//! cd-git against real git: bare repositories, `git daemon`, racing writers, human edits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod fixture;
mod races;
mod source;

use cd_contract::repo_contract;
use futures_executor::block_on;

use fixture::{Daemon, Remotes};

#[test]
fn a_bare_repository_keeps_the_repo_contract() {
    let remotes = Remotes::new();
    block_on(repo_contract(&remotes));
}

#[test]
fn a_git_daemon_remote_keeps_the_repo_contract() {
    let remotes = Remotes::new();
    let daemon = Daemon::start(remotes.root());
    block_on(repo_contract(&remotes.served_by(&daemon)));
}

#[test]
fn changed_files_names_non_ascii_paths_as_they_are() {
    let remotes = Remotes::new();
    let (url, _) = remotes.create(&[("apps/a.yaml".to_string(), "a: 1\n".to_string())]);
    let scratch = remotes.root().join("scratch-unicode");
    fixture::commit_as_other(&url, &scratch, "apps/café/deploy/dév.yaml", "a: 2\n", "add");
    let repo = remotes.open(&url);
    let head = block_on(cd_ports::ManifestRepo::commits_since(&repo, None))
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        block_on(cd_ports::ManifestRepo::changed_files(&repo, &head)).unwrap(),
        ["apps/café/deploy/dév.yaml"]
    );
}
