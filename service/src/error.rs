//! Why the service could not start.

use cd_ports::{RegistryError, RepoError, StoreError};

use crate::config::ConfigError;

/// Why the service (or the engine runner) could not start.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// This binary does not link the adapter the configuration names.
    #[error("not supported by this binary: {0}")]
    Unsupported(String),
    /// A file or directory could not be used.
    #[error("{0}")]
    Io(String),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The manifest repository could not be opened or seeded.
    #[error("manifest repository: {0}")]
    Repo(#[from] RepoError),
    /// The manifests to seed the repository with are invalid: nothing was seeded.
    #[error("{source_name}: {count} problem(s) in the manifests; nothing was seeded:\n{problems}", count = problems.lines().count())]
    InvalidSeed {
        /// Where they came from.
        source_name: String,
        /// Every problem, one per line.
        problems: String,
    },
    /// The registry client could not be built.
    #[error("registry: {0}")]
    Registry(#[from] RegistryError),
}
