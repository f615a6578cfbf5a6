//! `infrastream`: the Infrastream CD command line.
//!
//! Exit codes: 0 success, 1 the command ran and found a problem (invalid manifests, a version
//! that cannot be computed), 2 usage errors.

// Output goes through `infrastream_ci::out`: a closed pipe (`| head`) ends the process quietly
// instead of panicking, and a closed standard error is not written to. Defined before the modules so that their `print!`/`println!` are these.
macro_rules! println {
    () => {
        infrastream_ci::out::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        infrastream_ci::out::write_line(format_args!($($arg)*))
    };
}
macro_rules! print {
    ($($arg:tt)*) => {
        infrastream_ci::out::write(format_args!($($arg)*))
    };
}
macro_rules! eprintln {
    () => {
        infrastream_ci::out::write_err(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        infrastream_ci::out::write_err(format_args!($($arg)*), true)
    };
}
macro_rules! eprint {
    ($($arg:tt)*) => {
        infrastream_ci::out::write_err(format_args!($($arg)*), false)
    };
}

mod client;
mod demo;
mod images;
mod manifests;
mod ops;
mod serve;
mod sim;
mod workflows;
mod workflows_github;

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
    /// The CI tools: compute-version, commits lint, changelog (also the `infrastream-ci` binary).
    #[command(flatten)]
    Ci(infrastream_ci::Command),
    /// Generate and publish the CI workflows of every repository.
    #[command(subcommand)]
    Workflows(workflows::Command),
    /// Run a scenario (or random scenarios) on the in-memory simulator.
    Sim(sim::Args),
    /// Run the whole pipeline locally: service, engine, CI builds, approvals, a release.
    Demo(demo::DemoArgs),
    /// Images in the embedded registry: import an OCI image layout, add a placeholder, list.
    #[command(subcommand)]
    Images(images::Command),
    /// Run the CD Manager service (embedded defaults under ./.infrastream).
    Serve(serve::ServeArgs),
    /// Run the engine: reconcile each manifest commit's DeploymentConfigs and report.
    Engine(serve::EngineArgs),
    /// Send CI's build notification to the service.
    Notify(ops::NotifyArgs),
    /// Approve a gated stage.
    Approve(ops::ApprovalArgs),
    /// Reject a gated stage.
    Reject(ops::ApprovalArgs),
    /// Release a bundle of an application set.
    Release(ops::ReleaseArgs),
    /// Show deployments, or one deployment.
    Status(ops::StatusArgs),
    /// Hold an environment: promotions into it wait.
    Hold(ops::HoldArgs),
    /// Lift a hold.
    Unhold(ops::HoldArgs),
    /// Show the holds in force: who held which environment, when and why.
    Holds(ops::HoldsArgs),
    /// Show the gates waiting on you (through your groups), and what each still needs.
    Approvals(ops::ApprovalsArgs),
    /// Cancel a deployment that waits, is parked, or failed (recorded in the ledger).
    Cancel(ops::CancelArgs),
    /// Retry a deployment waiting on a failed step, or a failed release.
    Retry(ops::DeploymentArgs),
    /// Redeploy an earlier version of an application into one environment.
    Rollback(ops::RollbackArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    infrastream_ci::out::run(|| command(cli.command))
}

fn command(command: Command) -> ExitCode {
    match command {
        Command::Manifests(cmd) => manifests::run(cmd),
        Command::Ci(command) => infrastream_ci::run(&command),
        Command::Workflows(cmd) => workflows::run(cmd),
        Command::Sim(args) => sim::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Images(cmd) => images::run(cmd),
        Command::Serve(args) => serve::serve(&args),
        Command::Engine(args) => serve::engine(&args),
        Command::Notify(args) => ops::notify(&args),
        Command::Approve(args) => ops::approval(&args, "APPROVE"),
        Command::Reject(args) => ops::approval(&args, "REJECT"),
        Command::Release(args) => ops::release(&args),
        Command::Status(args) => ops::status(&args),
        Command::Hold(args) => ops::hold(&args),
        Command::Unhold(args) => ops::unhold(&args),
        Command::Holds(args) => ops::holds(&args),
        Command::Approvals(args) => ops::approvals(&args),
        Command::Cancel(args) => ops::cancel(&args),
        Command::Retry(args) => ops::retry(&args),
        Command::Rollback(args) => ops::rollback(&args),
    }
}
