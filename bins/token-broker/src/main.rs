//! `token-broker --config FILE [--check]`.
//!
//! Exit codes: 0 after a graceful stop (or a good `--check`), 1 when it cannot start, 2 for a
//! configuration that cannot be used.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use token_broker::Config;

#[derive(Debug, Parser)]
#[command(
    name = "token-broker",
    version,
    about = "Short-lived, least-privilege GitHub tokens for CI jobs, from their GitHub Actions OIDC tokens"
)]
struct Cli {
    /// The configuration file (TOML; docs/TOKEN-BROKER.md).
    #[arg(long, env = "TOKEN_BROKER_CONFIG")]
    config: PathBuf,
    /// Check the configuration, print it with defaults filled in, and exit.
    #[arg(long)]
    check: bool,
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
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
    tracing::info!("shutting down");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check {
        print!("{}", config.effective());
        return ExitCode::SUCCESS;
    }
    init_logs();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(token_broker::serve(
        config,
        |addr| {
            // eprintln: stdout carries the audit events.
            eprintln!("listening on http://{addr}");
        },
        shutdown_signal(),
    ));
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
