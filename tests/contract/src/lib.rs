//! Contract test suites for the ports, written once and run against every adapter.
//!
//! Each suite is an async function that takes a fixture able to build a fresh adapter (and to
//! act on the backend as an outsider would: push an image, commit by hand). It panics with a
//! message naming the broken rule. Adapters' tests call the suites with their own runtime.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod docker_registry;
pub mod emulators;
mod registry;
mod repo;
mod source;
mod store;

pub use registry::{RegistryFixture, registry_contract};
pub use repo::{RepoFixture, RepoHandle, repo_contract};
pub use source::{SourceFixture, source_contract};
pub use store::{BackfillSample, backfill_sample, deployment as sample_deployment, store_contract};
