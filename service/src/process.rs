//! What a binary running the service needs around it: logs and signals.

use std::collections::BTreeMap;
use std::future::Future;

use crate::config::Config;
use crate::error::StartError;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). Call once, from `main`.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

/// Opens the local adapters `config` names (seeding an empty manifest remote with `seed`) and
/// serves until `shutdown`.
///
/// # Errors
/// [`StartError`] when an adapter cannot be opened or the address cannot be bound.
pub async fn run_local(
    config: Config,
    seed: Vec<(String, String)>,
    env: BTreeMap<String, String>,
    on_listen: impl FnOnce(std::net::SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let opened = {
        let config = config.clone();
        // Opening clones and seeds git repositories: blocking work.
        tokio::task::spawn_blocking(move || crate::local::open(&config, &seed, &env))
            .await
            .map_err(|e| StartError::Io(e.to_string()))??
    };
    crate::serve(&config, opened, on_listen, shutdown).await
}
