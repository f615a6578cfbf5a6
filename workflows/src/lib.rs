//! `cd-workflows`: hardened GitHub Actions workflows, CODEOWNERS and rulesets, generated from
//! Infrastream manifests.
//!
//! Pure like `cd-core`: a [`Catalog`](cd_core::manifest::Catalog) and a pin table in, files as
//! `(path, text)` out, the same bytes for the same input; the caller reads and writes files and
//! talks to GitHub. The branch strategy rules ([`branching`]) are the one copy `compute-version`
//! also uses.

#![deny(missing_docs)]

pub mod branching;
pub mod builders;
pub mod context;
pub mod emit;
mod generate;
pub mod glob;
pub mod jobs;
mod layout;
pub mod model;
pub mod pins;
pub mod rulesets;
pub mod steps;

pub use generate::{Files, GenerateError, branch_configurations, check, generate};
pub use layout::{GENERATED_MARK, Planned, is_generated, plan};
