//! The `infrastream-ci` binary, run as CI runs it, on repositories the tests build.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod compute_version;
mod repo_version;
mod token;
mod workflow_steps;

use std::process::{Command, Output};

pub(crate) fn ci(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infrastream-ci"))
        .args(args)
        .env_remove("GITHUB_OUTPUT")
        .output()
        .expect("run infrastream-ci")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
