//! The embedded and local adapters, chosen by the configuration: what `infrastream serve` runs
//! on. A production binary builds its own [`Ports`] and reuses everything else.
//!
//! The pieces a running service needs whatever its adapters live in rooms of their own: the
//! wall clock (`clock`), deployment ids (`ids`), the webhook secret file (`secret`) and the
//! JSON-lines event file (`events`); this module opens the adapters the configuration names.

mod clock;
mod events;
mod ids;
mod secret;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cd_git::{GitConfig, GitRepo, LocalSourceHost};
use cd_oci::{Auth, Endpoint, OciLayout, OciRegistry};
use cd_ports::{Notifier, Ports, Registry, SourceHost, Store};
use cd_sqlite::{Durability, SqliteStore};

pub use clock::SystemClock;
pub use events::JsonlNotifier;
pub use ids::RandomIds;
pub use secret::{session_key, webhook_secret};

use crate::blocking::Blocking;
use crate::config::{Config, RegistryKind, StoreKind, Synchronous};
use crate::error::StartError;

fn is_local_path(remote: &str) -> bool {
    !remote.contains("://") && !remote.contains('@')
}

/// How to reach `remote` as configured (branch, token).
#[must_use]
pub fn git_config(config: &Config, remote: &str, workdir: &Path) -> GitConfig {
    let mut git = GitConfig::new(remote, workdir);
    git.branch.clone_from(&config.manifests.branch);
    git.token = config.manifests.token.as_ref().map(|t| t.0.clone());
    git
}

/// Opens the manifest repository: creates a local bare remote when it does not exist, and seeds
/// an empty remote with `seed` (the configured directory wins over it).
///
/// # Errors
/// [`StartError`] when git fails or the seed directory cannot be read.
pub fn open_manifests(
    config: &Config,
    seed: &[(String, String)],
    workdir: &Path,
) -> Result<GitRepo, StartError> {
    let remote = config.manifests.remote.clone().unwrap_or_else(|| {
        config
            .data_dir
            .join("manifests.git")
            .to_string_lossy()
            .into_owned()
    });
    let remote = if is_local_path(&remote) {
        let path = PathBuf::from(&remote);
        if !path.exists() {
            std::fs::create_dir_all(&path)
                .map_err(|e| StartError::Io(format!("{}: {e}", path.display())))?;
            let out = std::process::Command::new("git")
                .args(["init", "--quiet", "--bare", "-b", &config.manifests.branch])
                .arg(&path)
                .output()
                .map_err(|e| StartError::Io(format!("cannot run git: {e}")))?;
            if !out.status.success() {
                return Err(StartError::Io(format!(
                    "git init {}: {}",
                    path.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        // Absolute, so the private clone's recorded remote does not depend on the cwd.
        std::path::absolute(&path)
            .map_err(|e| StartError::Io(format!("{}: {e}", path.display())))?
            .to_string_lossy()
            .into_owned()
    } else {
        remote
    };
    let git = git_config(config, &remote, workdir);
    let seeded = GitRepo::remote_has_branch(&git)?;
    if let (true, true, Some(dir)) = (config.manifests.seed, seeded, &config.manifests.seed_from) {
        // Said where a person sees it: the directory they named is not what is served.
        // Removing the data directory empties only the embedded repository.
        let again = if config.manifests.remote.is_none() {
            format!(", or remove {} to seed it again", config.data_dir.display())
        } else {
            String::new()
        };
        let message = format!(
            "{} is ignored: the manifest repository {} already has branch '{}'; push your manifests there{again}",
            dir.display(),
            crate::config::redact_url(&remote),
            config.manifests.branch,
        );
        tracing::warn!("{message}");
    }
    if config.manifests.seed && !seeded {
        let files = match &config.manifests.seed_from {
            Some(dir) => crate::tenant::read_tree(dir)?,
            None => seed.to_vec(),
        };
        // An invalid tree is refused here, not stored and then answered with 503.
        if let Err(problems) = cd_core::manifest::Catalog::load_valid(files.clone()) {
            return Err(StartError::InvalidSeed {
                source_name: config.manifests.seed_from.as_ref().map_or_else(
                    || "the built-in tenant".to_string(),
                    |d| d.display().to_string(),
                ),
                problems: problems
                    .0
                    .iter()
                    .map(|p| format!("  {p}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        if files.is_empty() {
            return Err(StartError::Io(format!(
                "the manifest repository {} has no branch '{}' and there is nothing to seed it with: push your manifests there, or set manifests.seed_from",
                crate::config::redact_url(&remote),
                config.manifests.branch
            )));
        }
        tracing::info!(remote = %crate::config::redact_url(&remote), files = files.len(), "seeding the empty manifest repository");
        GitRepo::seed_remote(&git, &files)?;
    }
    Ok(GitRepo::open(git)?)
}

/// The registry the configuration names.
///
/// # Errors
/// [`StartError::Unsupported`] for kinds this binary does not link; adapter errors.
pub fn open_registry(
    config: &Config,
    env: &BTreeMap<String, String>,
) -> Result<Arc<dyn Registry>, StartError> {
    match config.registry.kind {
        RegistryKind::Layout => Ok(Arc::new(OciLayout::new(
            &config.under_data(config.registry.path.as_ref(), "registry"),
        ))),
        RegistryKind::Oci => {
            let url = config.registry.url.clone().unwrap_or_default();
            let auth = match (&config.registry.username, &config.registry.password_env) {
                (Some(username), Some(var)) => Auth::Basic {
                    username: username.clone(),
                    password: env.get(var).cloned().ok_or_else(|| {
                        StartError::Config(crate::config::ConfigError {
                            source_name: "configuration".into(),
                            field: "registry.password_env".into(),
                            reason: format!("the environment variable {var} is not set"),
                        })
                    })?,
                },
                _ => Auth::Anonymous,
            };
            let endpoint = Endpoint {
                url,
                prefix: config.registry.prefix.clone(),
                auth,
            };
            Ok(Arc::new(OciRegistry::new(BTreeMap::new(), Some(endpoint))?))
        }
        RegistryKind::ArtifactRegistry => Err(StartError::Unsupported(
            "registry.kind = \"artifact_registry\" needs the cd-manager binary".into(),
        )),
    }
}

/// Adapters a production binary brings instead of the local ones.
#[derive(Default)]
pub struct Overrides {
    /// The store (e.g. Cloud Spanner).
    pub store: Option<Arc<dyn Store>>,
    /// Where events go (e.g. Pub/Sub).
    pub notifier: Option<Arc<dyn Notifier>>,
    /// Source repositories (e.g. GitHub).
    pub source: Option<Arc<dyn SourceHost>>,
    /// The image registry (e.g. Artifact Registry).
    pub registry: Option<Arc<dyn Registry>>,
    /// Tasks that run beside the API (e.g. a Pub/Sub subscriber), given the service and a
    /// stop signal.
    pub background: Vec<Background>,
}

/// A task run beside the API: it gets the service and a signal that turns true at shutdown.
pub type Background = Box<
    dyn FnOnce(
            Arc<crate::Shared>,
            tokio::sync::watch::Receiver<bool>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send,
>;

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("store", &self.store.is_some())
            .field("notifier", &self.notifier.is_some())
            .field("source", &self.source.is_some())
            .field("registry", &self.registry.is_some())
            .field("background", &self.background.len())
            .finish()
    }
}

/// Everything the local adapters opened.
pub struct Opened {
    /// The ports.
    pub ports: Ports,
    /// The webhook secret.
    pub secret: Vec<u8>,
    /// Tasks to run beside the API.
    pub background: Vec<Background>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("ports", &self.ports)
            .field("background", &self.background.len())
            .finish_non_exhaustive()
    }
}

/// Opens every local adapter the configuration names, creating `data_dir` as needed.
///
/// # Errors
/// [`StartError`] naming what could not be opened.
pub fn open(
    config: &Config,
    seed: &[(String, String)],
    env: &BTreeMap<String, String>,
    overrides: Overrides,
) -> Result<Opened, StartError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::Io(format!("{}: {e}", config.data_dir.display())))?;
    let store: Arc<dyn Store> = match (overrides.store, config.store.kind) {
        (Some(store), _) => store,
        (None, StoreKind::Sqlite) => {
            let durability = match config.store.synchronous {
                Synchronous::Full => Durability::Full,
                Synchronous::Normal => Durability::Normal,
            };
            Arc::new(Blocking(Arc::new(SqliteStore::open_with(
                &config.under_data(config.store.path.as_ref(), "state.db"),
                durability,
            )?)))
        }
        (None, StoreKind::Spanner) => {
            return Err(StartError::Unsupported(
                "store.kind = \"spanner\" needs the cd-manager binary".into(),
            ));
        }
    };
    let repo = Arc::new(open_manifests(
        config,
        seed,
        &config.data_dir.join("work").join("manager"),
    )?);
    // Every local adapter blocks (git, SQLite, files): run them off the async runtime.
    let registry: Arc<dyn Registry> = match (overrides.registry, config.registry.kind) {
        (Some(r), _) => r,
        (None, RegistryKind::Layout) => Arc::new(Blocking(open_registry(config, env)?)),
        (None, _) => open_registry(config, env)?,
    };
    let ports = Ports {
        store,
        registry,
        repo: Arc::new(Blocking(repo)),
        source: overrides.source.unwrap_or_else(|| {
            let mut host =
                LocalSourceHost::new(&config.under_data(config.source.dir.as_ref(), "sources"));
            for (name, path) in &config.source.repositories {
                host = host.with_repository(name, path);
            }
            Arc::new(Blocking(Arc::new(host)))
        }),
        notifier: overrides.notifier.unwrap_or_else(|| {
            Arc::new(Blocking(Arc::new(JsonlNotifier::new(
                &config.data_dir.join("events.jsonl"),
            ))))
        }),
        clock: Arc::new(SystemClock),
    };
    Ok(Opened {
        ports,
        secret: webhook_secret(&config.secret_file())?,
        background: overrides.background,
    })
}
