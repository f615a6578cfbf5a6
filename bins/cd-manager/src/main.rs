//! `cd-manager`: the CD Manager service as a team deploys it.
//!
//! It runs the same service as `infrastream serve`, configured only by a TOML file and
//! `INFRASTREAM_*` environment variables (docs/OPERATIONS.md), and links the production
//! adapters the command line does not: Cloud Spanner for state (`store.kind = "spanner"`; the
//! schema is migrated at start; `SPANNER_EMULATOR_HOST` points it at an emulator). Pub/Sub,
//! Artifact Registry and GitHub are not linked yet; a configuration naming them is refused at
//! start with a clear error.
//!
//! Exit codes: 0 after a graceful shutdown, 1 when the service cannot start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use cd_service::config::StoreKind;
use cd_service::local::Overrides;
use cd_service::process::{init_logs, serve_until_signal};
use cd_service::{Config, StartError};
use cd_spanner::{Endpoint, SpannerStore};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "cd-manager",
    version,
    about = "The Infrastream CD Manager service"
)]
struct Cli {
    /// The configuration file; without one the service runs on embedded defaults.
    #[arg(long, env = "INFRASTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration, print it with defaults filled in, and exit.
    #[arg(long)]
    check: bool,
}

/// The production adapters the configuration names, in place of the local ones.
async fn production_adapters(
    config: &Config,
    env: &BTreeMap<String, String>,
) -> Result<Overrides, StartError> {
    let mut overrides = Overrides::default();
    if config.store.kind == StoreKind::Spanner {
        let database = config.store.database.clone().unwrap_or_default();
        let endpoint = Endpoint::from_env(env);
        let applied = SpannerStore::migrate(&endpoint, &database).await?;
        tracing::info!(database, applied, "Spanner schema up to date");
        overrides.store = Some(Arc::new(SpannerStore::connect(&endpoint, &database).await?));
    }
    Ok(overrides)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let result = (|| -> Result<(), StartError> {
        let config = Config::load(cli.config.as_deref())?.with_env(&env)?;
        if cli.check {
            println!("{:#?}", config.redacted());
            return Ok(());
        }
        // An empty manifest remote is never seeded with an example in production.
        serve_until_signal(config, Vec::new(), env, production_adapters)
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
