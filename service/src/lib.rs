//! `cd-service`: the CD Manager as an HTTP service (axum on tokio), its configuration, the
//! local adapters it runs on by default, and the engine runner.
//!
//! `infrastream serve` runs it on the embedded and local adapters; a production binary builds
//! its own [`cd_ports::Ports`] (Spanner, Pub/Sub, ...) and calls [`serve`] the same way.

pub mod api;
pub mod auth;
pub mod blocking;
pub mod config;
pub mod dora;
pub mod engine;
pub mod error;
pub mod health;
pub mod local;
pub mod metrics;
pub mod portal;
pub mod process;
mod service;
pub mod tenant;
mod worker;

pub use config::Config;
pub use error::StartError;
pub use service::{Shared, Wake, serve};
