//! Infrastream CD's CI tools, run in each build on a real git repository: the version a build
//! is tagged with (`compute-version`), conventional-commit checks (`commits lint`),
//! changelogs (`changelog`), the CD Manager's build notification (`notification`) and
//! short-lived tokens from the Token Broker (`token`).
//!
//! They ship twice: as subcommands of `infrastream`, and as the small `infrastream-ci` binary
//! that CI jobs download and start on every build, where start-up time and download size count
//! (the full CLI links the service, the adapters and the simulator).

// Output goes through `out`: a closed pipe ends the process quietly instead of panicking, and
// a closed standard error is not written to.
// Defined before the modules so that their `print!`/`println!` are these.
macro_rules! println {
    () => {
        $crate::out::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::write_line(format_args!($($arg)*))
    };
}
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}
macro_rules! eprintln {
    () => {
        $crate::out::write_err(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::out::write_err(format_args!($($arg)*), true)
    };
}
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::out::write_err(format_args!($($arg)*), false)
    };
}

mod actions;
mod ancestry;
mod commit_graph;
pub mod commits;
pub mod compute_version;
mod git_facts;
mod http;
pub mod notification;
pub mod out;
pub mod token;

use std::process::ExitCode;

/// Entry points for the fuzz targets (`fuzz/`): the parsers of repository files and of git's
/// answers, on bytes.
#[doc(hidden)]
pub mod fuzzing {
    use crate::commit_graph::{Graph, Oid};

    /// Reads `data` as a commit-graph file and asks it which of some of its commits (chosen
    /// by the data's first bytes) a fifth reaches, with each step of the search allowed to
    /// answer.
    pub fn commit_graph(data: &[u8]) {
        for budget in [0, 32] {
            let Some(mut graph) = Graph::read(Box::new(data.to_vec())) else {
                return;
            };
            graph.set_budget(budget);
            let count = graph.len().max(1);
            let ids: Vec<Oid> = data
                .iter()
                .take(5)
                .filter_map(|b| graph.id_at(usize::from(*b) % count))
                .collect();
            if let Some((head, tags)) = ids.split_first() {
                let _ = graph.first_merged(head, tags);
            }
        }
    }

    /// Reads `data` as commit objects separated by NUL bytes (object `n` has the id `n` in
    /// hex) and asks the walk of a repository without a commit-graph which of objects 1 to 5
    /// object 0 reaches: it must end, and where it answers on a history without cycles, answer
    /// as a search of every parent does. (Git's histories have no cycles: a commit's id hashes
    /// its parents' ids. The walk relies on it, as git's merge-base does.)
    pub fn commit_objects(data: &[u8]) {
        use crate::ancestry::{Memory, Walker, first_reached, parse_commit};
        let id = |n: usize| Oid::from_hex(format!("{n:040x}").as_bytes());
        let commits: std::collections::HashMap<Oid, _> = data
            .split(|b| *b == 0)
            .take(256)
            .enumerate()
            .filter_map(|(n, object)| Some((id(n)?, parse_commit(object)?)))
            .collect();
        let Some(head) = id(0) else {
            return;
        };
        let tags: Vec<Oid> = (1..6).filter_map(id).collect();
        // Parents of higher ids only: no cycle.
        let acyclic = commits
            .iter()
            .all(|(id, c)| c.parents.iter().all(|p| p > id));
        let expected = first_reached(&commits, head, &tags).filter(|_| acyclic);
        let walked = Walker::new(Memory(commits), head, 4096).first_merged(&tags);
        if let (Ok(walked), Some(expected)) = (walked, expected) {
            assert_eq!(walked, expected, "the walk and the search disagree");
        }
    }

    /// Parses `data` as a `packed-refs` file.
    pub fn packed_refs(data: &[u8]) {
        let _ = crate::git_facts::parse_packed_refs(data, "refs/heads/main");
    }
}

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
    /// The CD Manager's build notification, as JSON on stdout.
    Notification(notification::BuildArgs),
    /// A short-lived GitHub token from the Token Broker (in a GitHub Actions job).
    Token(token::Args),
}

/// Runs one CI subcommand. Exit codes: 0 success, 1 the command ran and found a problem.
pub fn run(command: &Command) -> ExitCode {
    match command {
        Command::ComputeVersion(args) => compute_version::run(args),
        Command::Commits(commits::Command::Lint(args)) => commits::lint(args),
        Command::Changelog(args) => commits::changelog(args),
        Command::Notification(args) => notification::run(args),
        Command::Token(args) => token::run(args),
    }
}
