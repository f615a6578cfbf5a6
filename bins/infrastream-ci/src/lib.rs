//! Infrastream CD's CI tools, run in each build on a real git repository: the version a build
//! is tagged with (`compute-version`), conventional-commit checks (`commits lint`) and
//! changelogs (`changelog`).
//!
//! They ship twice: as subcommands of `infrastream`, and as the small `infrastream-ci` binary
//! that CI jobs download and start on every build, where start-up time and download size count
//! (the full CLI links the service, the adapters and the simulator).

mod commit_graph;
pub mod commits;
pub mod compute_version;
mod git_facts;

use std::process::ExitCode;

/// The CI subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Compute the version a CI build is tagged with.
    ComputeVersion(compute_version::Args),
    /// Check conventional commits.
    #[command(subcommand)]
    Commits(commits::Command),
    /// The changelog between two tags, from conventional commits.
    Changelog(commits::ChangelogArgs),
}

/// Runs one CI subcommand. Exit codes: 0 success, 1 the command ran and found a problem.
pub fn run(command: &Command) -> ExitCode {
    match command {
        Command::ComputeVersion(args) => compute_version::run(args),
        Command::Commits(commits::Command::Lint(args)) => commits::lint(args),
        Command::Changelog(args) => commits::changelog(args),
    }
}
