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
