//! `commits lint` and `changelog` (of `infrastream-ci` and `infrastream`): conventional commits
//! on a real repository, for CI (GitHub annotations, a step summary) and people.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cd_core::pipeline::{ChangelogDocument, ChangelogEntry};
use cd_core::version::{TitleVerdict, check_pr_title, parse_message};
use clap::{Args, Subcommand, ValueEnum};

use crate::actions::{emit, summary};
use crate::git_facts::git;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check commit messages (`--range A..B`, a push) or a pull request title (`--pr-title`).
    Lint(LintArgs),
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The commits of a push, `A..B`.
    #[arg(
        long,
        conflicts_with = "pr_title",
        required_unless_present = "pr_title"
    )]
    range: Option<String>,
    /// A pull request's title.
    #[arg(long)]
    pr_title: Option<String>,
    /// The pull request's author (dependabot's own titles are accepted).
    #[arg(long)]
    pr_author: Option<String>,
    /// The repository (default: the current directory).
    #[arg(long)]
    repo: Option<PathBuf>,
}

/// One commit.
struct Commit {
    id: String,
    parents: usize,
    author: String,
    message: String,
}

/// The commits of `range` (only its tip when `alone`), oldest first.
fn commits(repo: &Path, range: &str, alone: bool) -> Result<Vec<Commit>, String> {
    let mut args = vec!["log", "--reverse", "--format=%H %P%x1e%an%x1f%B%x00"];
    if alone {
        args.push("--max-count=1");
    }
    args.extend(["--end-of-options", range]);
    let out = git(repo, &args)?;
    if !out.status.success() {
        return Err(format!(
            "git log {range}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter_map(|c| {
            let (ids, rest) = c.trim_start_matches('\n').split_once('\x1e')?;
            let (author, message) = rest.split_once('\x1f')?;
            let mut ids = ids.split_whitespace();
            Some(Commit {
                id: ids.next()?.to_string(),
                parents: ids.count(),
                author: author.to_string(),
                message: message.trim().to_string(),
            })
        })
        .collect())
}

/// The revision `git log` reads for `range`, and whether only its tip counts. A push's
/// `BEFORE..AFTER` can name a `BEFORE` the clone cannot use: forty zeros when the push created
/// the branch, or a commit a force push left behind. Then the push is judged by `AFTER` alone.
fn push_revisions(repo: &Path, range: &str) -> (bool, String) {
    let Some((before, after)) = range.split_once("..").filter(|(_, a)| !a.starts_with('.')) else {
        return (false, range.to_string());
    };
    let zeros = !before.is_empty() && before.bytes().all(|b| b == b'0');
    if zeros || commit_of(repo, before).is_none() {
        eprintln!(
            "note: {before} is not in this clone (a new branch or a force push): checking {after} alone"
        );
        (true, after.to_string())
    } else {
        (false, range.to_string())
    }
}

/// The commit `rev` names in the clone, if it names one.
fn commit_of(repo: &Path, rev: &str) -> Option<String> {
    git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .ok()
    .filter(|o| o.status.success())
    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Refuses a range written backwards: `A..B` where `B` is an ancestor of `A` (and not `A`)
/// holds no commit, and checking or listing nothing would pass for success.
fn forwards(repo: &Path, from: &str, to: &str) -> Result<(), String> {
    let (Some(a), Some(b)) = (commit_of(repo, from), commit_of(repo, to)) else {
        return Ok(()); // git log names what it cannot resolve.
    };
    let behind = a != b
        && git(repo, &["merge-base", "--is-ancestor", &b, &a]).is_ok_and(|o| o.status.success());
    if behind {
        return Err(format!(
            "the range {from}..{to} is reversed: {to} is an ancestor of {from}, so it holds no commits (did you mean {to}..{from}?)"
        ));
    }
    Ok(())
}

/// A GitHub workflow command's message: `%`, CR and LF escaped.
fn escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

pub(crate) fn lint(args: &LintArgs) -> ExitCode {
    if let Some(title) = &args.pr_title {
        return match check_pr_title(title, args.pr_author.as_deref()) {
            Ok(TitleVerdict::Conventional(c)) => {
                let labels = c.labels();
                let wanted: Vec<String> = labels
                    .release
                    .map(str::to_string)
                    .into_iter()
                    .chain(labels.scope)
                    .collect();
                emit(&[("labels", wanted.join(","))]);
                summary(&format!(
                    "PR title OK: `{title}`; labels: {}\n",
                    wanted.join(", ")
                ));
                ExitCode::SUCCESS
            }
            Ok(TitleVerdict::Revert) => {
                emit(&[("labels", String::new())]);
                ExitCode::SUCCESS
            }
            Ok(TitleVerdict::Dependabot) => {
                println!(
                    "::warning title=PR title::{}",
                    escape(&format!("dependabot title accepted as is: {title}"))
                );
                emit(&[("labels", String::new())]);
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("::error title=PR title::{}", escape(&e.to_string()));
                summary(&format!("PR title refused: `{title}`: {e}\n"));
                ExitCode::from(1)
            }
        };
    }
    let repo = args.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let range = args.range.clone().unwrap_or_default();
    let reversed = range
        .split_once("..")
        .filter(|(_, t)| !t.starts_with('.'))
        .and_then(|(from, to)| forwards(&repo, from, to).err().map(|e| (to, e)));
    let (alone, revision) = match reversed {
        // In a push's workflow a backwards range is a force push that rewound the branch
        // (its old tip still reachable elsewhere): the push is judged by its new tip, as for
        // any force push. Typed by a person, it is a mistake.
        Some((to, e)) if std::env::var("GITHUB_EVENT_NAME").as_deref() == Ok("push") => {
            eprintln!("note: {e}; a push that rewound the branch: checking {to} alone");
            (true, to.to_string())
        }
        Some((_, e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        None => push_revisions(&repo, &range),
    };
    let list = match commits(&repo, &revision, alone) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut bad = 0;
    let mut checked = 0;
    let mut report = String::new();
    for Commit {
        id,
        parents,
        author,
        message,
    } in &list
    {
        // Merge commits are git's own, not the author's.
        if *parents > 1 {
            continue;
        }
        checked += 1;
        let subject = message.lines().next().unwrap_or_default();
        // What the merge gate accepts as a PR title is accepted as a squash-merged subject.
        let accepted = parse_message(message).is_ok()
            || check_pr_title(subject, Some(author)).is_ok()
            || check_pr_title(strip_pr_suffix(subject), Some(author)).is_ok();
        if let (false, Err(e)) = (accepted, parse_message(message)) {
            bad += 1;
            let short = id.get(..12).unwrap_or(id);
            println!(
                "::error title=Conventional commit {short}::{}",
                escape(&e.to_string())
            );
            let _ = writeln!(report, "- `{short}` {}", e.to_string().replace('`', "'"));
        }
    }
    let text = format!(
        "{} of {checked} commit(s) in {range} follow conventional commits\n",
        checked - bad
    );
    print!("{text}");
    summary(&format!("{text}{report}"));
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Format {
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct ChangelogArgs {
    /// The older tag (exclusive).
    #[arg(long)]
    from: String,
    /// The newer tag or commit (inclusive).
    #[arg(long, default_value = "HEAD")]
    to: String,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    format: Format,
    /// The repository (default: the current directory).
    #[arg(long)]
    repo: Option<PathBuf>,
}

/// A subject without its squash-merge `(#123)` suffix.
fn strip_pr_suffix(subject: &str) -> &str {
    match pr_number(subject) {
        (_, Some(_)) => subject
            .rfind("(#")
            .and_then(|i| subject.get(..i))
            .map_or(subject, str::trim_end),
        _ => subject,
    }
}

/// `(#123)` at the end of a squash-merged subject.
fn pr_number(description: &str) -> (String, Option<u64>) {
    if let Some(open) = description.rfind("(#")
        && description.ends_with(')')
        && let Some(n) = description
            .get(open + 2..description.len() - 1)
            .and_then(|n| n.parse().ok())
    {
        return (
            description
                .get(..open)
                .unwrap_or_default()
                .trim_end()
                .to_string(),
            Some(n),
        );
    }
    (description.to_string(), None)
}

/// `https://github.com/OWNER/NAME` when the repository's `origin` is on GitHub.
fn github_url(repo: &Path) -> Option<String> {
    let out = git(repo, &["remote", "get-url", "origin"]).ok()?;
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let path = [
        "https://github.com/",
        "http://github.com/",
        "ssh://git@github.com/",
        "git@github.com:",
    ]
    .iter()
    .find_map(|p| url.strip_prefix(p))?;
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    Some(format!("https://github.com/{path}"))
}

/// Section titles, in order, one for every allowed type: every conventional commit is listed.
/// Breaking changes come first of all.
const SECTIONS: [(&str, &str); 11] = [
    ("feat", "Features"),
    ("fix", "Fixes"),
    ("perf", "Performance"),
    ("revert", "Reverts"),
    ("refactor", "Refactoring"),
    ("docs", "Documentation"),
    ("test", "Tests"),
    ("build", "Build"),
    ("ci", "Continuous integration"),
    ("style", "Style"),
    ("chore", "Chores"),
];

pub(crate) fn changelog(args: &ChangelogArgs) -> ExitCode {
    let repo = args.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    // A first release's base is `v0.0.0`, a tag that does not exist: its changelog is the
    // whole history up to `--to`.
    let first_release = args.from == cd_core::version::FIRST_BASE
        && commit_of(&repo, cd_core::version::FIRST_BASE).is_none();
    let range = if first_release {
        args.to.clone()
    } else {
        if let Err(e) = forwards(&repo, &args.from, &args.to) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        format!("{}..{}", args.from, args.to)
    };
    let list = match commits(&repo, &range, false) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let link = github_url(&repo);
    let mut entries = Vec::new();
    // What the Markdown says it left out, and why.
    let (mut merges, mut unconventional) = (0, 0);
    for Commit {
        id,
        parents,
        message,
        ..
    } in &list
    {
        if *parents > 1 {
            merges += 1;
            continue;
        }
        let subject = message.lines().next().unwrap_or_default();
        // GitHub's revert title, as the merge gate accepts it: listed under Reverts.
        let reverted = subject
            .strip_prefix("Revert \"")
            .and_then(|r| r.strip_suffix('"'))
            .filter(|inner| !inner.is_empty());
        let parsed = match (parse_message(message), reverted) {
            (Ok(c), _) => c,
            (Err(_), Some(inner)) => cd_core::version::ConventionalCommit {
                kind: "revert".into(),
                scope: None,
                breaking: false,
                description: inner.to_string(),
            },
            (Err(_), None) => {
                unconventional += 1;
                continue;
            }
        };
        let c = parsed;
        let (description, pr) = pr_number(&c.description);
        entries.push(ChangelogEntry {
            // Filled by the CD Manager from the build the entries come with.
            application: String::new(),
            version: String::new(),
            kind: c.kind.clone(),
            scope: c.scope.clone(),
            description,
            breaking: c.breaking,
            commit: Some(id.clone()),
            pr,
        });
    }
    if let Format::Json = args.format {
        let document = ChangelogDocument {
            from: args.from.clone(),
            to: args.to.clone(),
            entries,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let line = |e: &ChangelogEntry| {
        let scope = e
            .scope
            .as_ref()
            .map(|s| format!("**{s}:** "))
            .unwrap_or_default();
        let commit = e.commit.as_deref().unwrap_or_default();
        let short = commit.get(..7).unwrap_or(commit);
        let refs = match (&link, e.pr) {
            (Some(url), Some(n)) => {
                format!(" ([#{n}]({url}/pull/{n}), [{short}]({url}/commit/{commit}))")
            }
            (None, Some(n)) => format!(" (#{n}, {short})"),
            (Some(url), None) => format!(" ([{short}]({url}/commit/{commit}))"),
            (None, None) => format!(" ({short})"),
        };
        format!("- {scope}{}{refs}\n", e.description)
    };
    let mut out = format!("## {} ({}..{})\n", args.to, args.from, args.to);
    let breaking: Vec<_> = entries.iter().filter(|e| e.breaking).collect();
    if !breaking.is_empty() {
        out.push_str("\n### Breaking changes\n\n");
        for e in &breaking {
            out.push_str(&line(e));
        }
    }
    for (kind, title) in SECTIONS {
        let section: Vec<_> = entries
            .iter()
            .filter(|e| e.kind == kind && !e.breaking)
            .collect();
        if section.is_empty() {
            continue;
        }
        let _ = write!(out, "\n### {title}\n\n");
        for e in section {
            out.push_str(&line(e));
        }
    }
    if entries.is_empty() {
        out.push_str("\nNo conventional commits in this range.\n");
    }
    let mut left_out = Vec::new();
    if unconventional > 0 {
        left_out.push(format!(
            "{unconventional} not conventional commits (`infrastream commits lint --range {range}` names them)"
        ));
    }
    if merges > 0 {
        left_out.push(format!("{merges} merge commits"));
    }
    if !left_out.is_empty() {
        let _ = write!(
            out,
            "\n{} of {} commits listed; left out: {}.\n",
            entries.len(),
            list.len(),
            left_out.join(", ")
        );
    }
    print!("{out}");
    ExitCode::SUCCESS
}
