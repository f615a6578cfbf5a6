//! The `infrastream` binary, run as a user would run it.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod browser;
mod ci_tools;
mod e2e;
mod manifests;
mod own_tenant;
mod portal;
mod service;
mod sim;
mod workflows;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn infrastream(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infrastream"))
        .args(args)
        .env_remove("GITHUB_OUTPUT")
        .output()
        .expect("run infrastream")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/manifests")
}

/// A copy of the example tenant in a temporary directory, to break or edit.
pub(crate) fn example_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&examples(), dir.path());
    dir
}

/// Copies the directory `from` to `to`, recursively.
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
