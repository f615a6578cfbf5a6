//! The Token Broker as CI meets it: the real binary, a local GitHub Actions OIDC issuer, and
//! the GitHub stand-in (tests/github-standin) answering as GitHub's REST API documents it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod attacks;
mod harness;
mod operations;
