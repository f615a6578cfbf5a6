//! What a binary running the service needs around it: logs and signals.

use std::collections::BTreeMap;
use std::future::Future;

use crate::config::Config;
use crate::error::StartError;
use crate::local::Overrides;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). Call once, from `main`.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .fmt_fields(escaped_fields())
        .try_init();
}

/// How every log field is written: `name=value`, the value with control characters escaped.
/// Request fields (a build definition, an application, an environment) reach the log through
/// values and messages; escaped, a newline in one cannot start a forged log line.
pub fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt as _;
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = escape_controls(&format!("{value:?}"));
        if field.name() == "message" {
            write!(w, "{text}")
        } else {
            write!(w, "{}={text}", field.name())
        }
    })
    .delimited(" ")
}

/// `text` with every control character written as its Rust escape (`\n`, `\u{1b}`).
#[must_use]
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
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

/// What both binaries do to serve: a runtime, the local adapters, `listening on http://ADDR`
/// as the first line on stdout (tests and the demo read it to find a free port), and a
/// graceful stop on SIGTERM or Ctrl-C.
///
/// # Errors
/// [`StartError`] when the service cannot start.
pub fn serve_until_signal(
    config: Config,
    seed: Vec<(String, String)>,
    env: BTreeMap<String, String>,
    overrides: impl AsyncFnOnce(&Config, &BTreeMap<String, String>) -> Result<Overrides, StartError>,
) -> Result<(), StartError> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| StartError::Io(e.to_string()))?;
    let result = rt.block_on(async {
        let overrides = overrides(&config, &env).await?;
        run_local(
            config,
            seed,
            env,
            overrides,
            |addr| {
                println!("listening on http://{addr}");
                let _ = std::io::Write::flush(&mut std::io::stdout());
            },
            shutdown_signal(),
        )
        .await
    });
    // A git process hung on a dead network must not keep the process alive after a stop.
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    result
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
    overrides: Overrides,
    on_listen: impl FnOnce(std::net::SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let opened = {
        let config = config.clone();
        // Opening clones and seeds git repositories: blocking work.
        tokio::task::spawn_blocking(move || crate::local::open(&config, &seed, &env, overrides))
            .await
            .map_err(|e| StartError::Io(e.to_string()))??
    };
    crate::serve(&config, opened, on_listen, shutdown).await
}
