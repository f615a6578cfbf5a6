//! `infrastream-ci`: the CI tools alone, a small binary for CI jobs (the same commands as
//! `infrastream compute-version`, `infrastream commits lint` and `infrastream changelog`).
//!
//! Exit codes: 0 success, 1 the command ran and found a problem, 2 usage errors.

use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "infrastream-ci",
    version,
    about = "Infrastream CD's CI tools: versions, commit checks, changelogs"
)]
struct Cli {
    #[command(subcommand)]
    command: infrastream_ci::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    infrastream_ci::out::run(|| infrastream_ci::run(&cli.command))
}
