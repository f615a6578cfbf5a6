//! cd-service: configuration, the engine runner on real git, and OIDC against a local issuer.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod config;
mod engine;
mod hardening;
mod listing;
mod logs;
mod metrics;
mod oidc;
mod robust;
mod signin;
