//! Manifest trees: the example tenant built into the binary, and directories on disk.

use std::path::Path;

use crate::error::StartError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/tenant.rs"));
}

/// The example tenant (examples/manifests) as (path, text) pairs, so `demo` and `serve` work
/// from any directory.
#[must_use]
pub fn example_files() -> Vec<(String, String)> {
    embedded::EXAMPLE_TENANT
        .iter()
        .map(|(p, t)| ((*p).to_string(), (*t).to_string()))
        .collect()
}

/// Every `*.yaml` / `*.yml` file under `dir` (hidden directories skipped), as (path relative to
/// `dir`, text): [`cd_git::read_manifest_tree`].
///
/// # Errors
/// [`StartError::Io`] naming the file or directory that cannot be read or is not UTF-8.
pub fn read_tree(dir: &Path) -> Result<Vec<(String, String)>, StartError> {
    cd_git::read_manifest_tree(dir).map_err(StartError::Io)
}
