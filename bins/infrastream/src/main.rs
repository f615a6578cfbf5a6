//! `infrastream`: the Infrastream CD command line.
//!
//! Exit codes: 0 success, 1 the command ran and found a problem (invalid manifests, a version
//! that cannot be computed), 2 usage errors.

mod compute_version;
mod manifests;
mod sim;
mod tenant;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "infrastream",
    version,
    about = "Infrastream CD: continuous deployment from manifests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check and edit manifests.
    #[command(subcommand)]
    Manifests(manifests::Command),
    /// Compute the version a CI build is tagged with.
    ComputeVersion(compute_version::Args),
    /// Run a scenario (or random scenarios) on the in-memory simulator.
    Sim(sim::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Manifests(cmd) => manifests::run(cmd),
        Command::ComputeVersion(args) => compute_version::run(&args),
        Command::Sim(args) => sim::run(&args),
    }
}
