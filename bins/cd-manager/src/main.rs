//! `cd-manager`: the CD Manager service as a team deploys it.
//!
//! It runs the same service as `infrastream serve`, configured only by a TOML file and
//! `INFRASTREAM_*` environment variables (docs/OPERATIONS.md). Production adapters (Spanner,
//! Pub/Sub, Artifact Registry, GitHub) are linked into this binary, never into the CLI; until
//! they are, a configuration naming them is refused at start with a clear error.
//!
//! Exit codes: 0 after a graceful shutdown, 1 when the service cannot start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use cd_service::process::{init_logs, serve_until_signal};
use cd_service::{Config, StartError};
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
        serve_until_signal(config, Vec::new(), env)
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
