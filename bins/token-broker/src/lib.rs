//! The Infrastream Token Broker: a CI job trades its GitHub Actions OIDC token for a GitHub
//! App installation token scoped to exactly the repositories and permissions it asked for, when
//! a `TokenPolicy` allows it. It holds the App's key and no state: tokens are issued per
//! request, never stored, never cached. docs/TOKEN-BROKER.md has the model and the attack table.

pub mod audit;
pub mod config;
pub mod limiter;
pub mod metrics;
pub mod policies;
pub mod server;

pub use config::{Config, ConfigError};
pub use server::{MAX_BODY_BYTES, serve};
