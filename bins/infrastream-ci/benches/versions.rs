//! `compute-version` on a large repository against `git describe --tags --abbrev=0` and the
//! original shell pipeline (`git tag -l 'v*' --sort=-version:refname --merged HEAD | grep -E
//! '^v[0-9]+\.[0-9]+\.[0-9]+$' | head -n 1`): the same answer, and the time ratio. Also
//! `changelog` against git-cliff when it is installed (`cargo install git-cliff`).
//!
//! The repository is generated with `git fast-import` (COMMITS, default 50 000, with a merge
//! every 20 commits, a release tag every 50, a pre-release tag every 25, 20 unmerged side
//! branches carrying higher tags, and six commits and a merge after the last release), under
//! `target/bench-repo-<COMMITS>-v2`, and reused. Two cases: HEAD on the last release tag
//! (detached, as CI checks out a tag) and HEAD on `main`, seven commits past it (a push); each
//! with a commit-graph and without one (a clone with full history, as `actions/checkout` with
//! `fetch-depth: 0` makes, has none). The commands run as processes, in turn, round after round.
//!
//! With `REPO=<path>`, also a real repository (git/git's history, say): cloned under `target/`
//! once, HEAD on its default branch, without and then with a commit-graph (REAL_ROUNDS rounds,
//! default 20).
//!
//! Run: `cargo bench -p infrastream-ci --bench versions` (COMMITS=n, ROUNDS=n, REPO=path).
//! Recorded results: docs/PERFORMANCE.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn data(stream: &mut String, text: &str) {
    let _ = write!(stream, "data {}\n{text}\n", text.len());
}

/// The fast-import stream of the benchmark repository.
fn history(commits: usize) -> (String, usize) {
    let mut s = String::new();
    let mut mark = 0usize;
    let mut tags = 0;
    let mut main_tip = 0usize;
    let mut version = (1u64, 0u64, 0u64);
    let commit = |s: &mut String,
                  mark: &mut usize,
                  branch: &str,
                  from: usize,
                  merge: Option<usize>,
                  msg: &str,
                  n: usize| {
        *mark += 1;
        let _ = write!(
            s,
            "commit refs/heads/{branch}\nmark :{}\ncommitter Dev <dev@example.invalid> {} +0000\n",
            *mark,
            1_700_000_000 + n
        );
        data(s, msg);
        if from > 0 {
            let _ = writeln!(s, "from :{from}");
        }
        if let Some(m) = merge {
            let _ = writeln!(s, "merge :{m}");
        }
        let _ = writeln!(s, "M 644 inline f{}", n % 97);
        data(s, &n.to_string());
        *mark
    };
    let mut side = 0;
    for n in 1..=commits {
        if n % 20 == 0 {
            // A short feature branch, merged back with a merge commit.
            let f = commit(
                &mut s,
                &mut mark,
                "feature",
                main_tip,
                None,
                &format!("feat(part{n}): feature {n}"),
                n,
            );
            main_tip = commit(
                &mut s,
                &mut mark,
                "main",
                main_tip,
                Some(f),
                &format!("Merge feature {n}"),
                n + 1,
            );
        } else {
            main_tip = commit(
                &mut s,
                &mut mark,
                "main",
                main_tip,
                None,
                &format!("fix(core): change {n}"),
                n,
            );
        }
        if n % 50 == 0 {
            version = if version.2 >= 9 {
                (version.0, version.1 + 1, 0)
            } else {
                (version.0, version.1, version.2 + 1)
            };
            let _ = write!(
                s,
                "reset refs/tags/v{}.{}.{}\nfrom :{main_tip}\n\n",
                version.0, version.1, version.2
            );
            tags += 1;
        } else if n % 25 == 0 {
            let _ = write!(
                s,
                "reset refs/tags/v{}.{}.{}-alpha.{n}\nfrom :{main_tip}\n\n",
                version.0,
                version.1,
                version.2 + 1
            );
            tags += 1;
        }
        if n % (commits / 20).max(1) == 0 && side < 20 {
            // A side branch, never merged, with a higher release tag: the answer must skip it.
            side += 1;
            let b = commit(
                &mut s,
                &mut mark,
                &format!("side{side}"),
                main_tip,
                None,
                "feat: experiment",
                n,
            );
            let _ = write!(s, "reset refs/tags/v{}.0.0\nfrom :{b}\n\n", 900 + side);
            tags += 1;
        }
    }
    // Work after the last release: what most CI runs see.
    for n in commits + 1..=commits + 6 {
        main_tip = commit(
            &mut s,
            &mut mark,
            "main",
            main_tip,
            None,
            &format!("fix(core): after the release {n}"),
            n,
        );
    }
    let f = commit(
        &mut s,
        &mut mark,
        "feature",
        main_tip,
        None,
        "feat(next): next feature",
        commits + 7,
    );
    commit(
        &mut s,
        &mut mark,
        "main",
        main_tip,
        Some(f),
        "Merge next feature",
        commits + 8,
    );
    (s, tags)
}

fn repository(commits: usize) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../target/bench-repo-{commits}-v2"));
    if dir.join(".git").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "--quiet", "-b", "main"]);
    let (stream, tags) = history(commits);
    let mut child = Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    git(&dir, &["reset", "--quiet", "--hard", "main"]);
    // As a clone has them: refs packed (with peeled tags), a commit-graph written.
    git(&dir, &["pack-refs", "--all"]);
    git(&dir, &["commit-graph", "write", "--reachable"]);
    eprintln!(
        "generated {} with {commits} commits and {tags} tags",
        dir.display()
    );
    dir
}

/// The median and 90th percentile of `samples`, in ms.
fn percentiles(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (
        samples[samples.len() / 2],
        samples[(samples.len() * 9) / 10],
    )
}

/// Runs each command once per round, in turn, starting with a different one each round (so
/// drift on the machine, and what the previous command left in the caches, hit all alike),
/// and returns each one's answer (the same every round, checked) and its p50 and p90 in ms.
fn race(rounds: usize, commands: &mut [&mut dyn FnMut() -> String]) -> Vec<(String, f64, f64)> {
    let n = commands.len();
    let mut samples = vec![Vec::new(); n];
    let mut answers = vec![None; n];
    for round in 0..rounds {
        for i in (0..n).map(|k| (k + round) % n) {
            let command = &mut commands[i];
            let start = Instant::now();
            let answer = command();
            samples[i].push(start.elapsed().as_secs_f64() * 1000.0);
            let first = answers[i].get_or_insert_with(|| answer.clone());
            assert_eq!(*first, answer, "command {i} changed its answer");
        }
    }
    answers
        .into_iter()
        .zip(samples)
        .map(|(a, s)| {
            let (p50, p90) = percentiles(s);
            (a.unwrap_or_default(), p50, p90)
        })
        .collect()
}

fn time(rounds: usize, mut f: impl FnMut() -> String) -> (String, f64, f64) {
    race(rounds, &mut [&mut f]).remove(0)
}

/// Writes the commit-graph of `repo`, or removes it (as a fresh clone has none).
fn set_commit_graph(repo: &Path, present: bool) {
    if present {
        git(repo, &["commit-graph", "write", "--reachable"]);
    } else {
        let info = repo.join(".git/objects/info");
        let _ = std::fs::remove_file(info.join("commit-graph"));
        let _ = std::fs::remove_dir_all(info.join("commit-graphs"));
    }
}

/// A clone of `source` under `target/`, made once and reused: full history, refs packed with
/// their peeled values (as `git clone` leaves them), no automatic maintenance.
fn real_clone(source: &Path) -> PathBuf {
    let name = source
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>();
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../target/bench-real{name}"));
    if !dir.join(".git").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new("git")
            .args(["clone", "--quiet", "--no-checkout"])
            .arg(source)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git clone: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        git(&dir, &["config", "gc.auto", "0"]);
        git(&dir, &["config", "maintenance.auto", "false"]);
    }
    dir
}

/// Races compute-version, `git describe` and the original pipeline on `repo` as it is checked
/// out, and prints each one's answer and times, and the ratios.
fn compare(repo: &Path, case: &str, rounds: usize) {
    let exe = env!("CARGO_BIN_EXE_infrastream-ci");
    let repo_arg = repo.to_string_lossy().to_string();
    let mut ours = || {
        let out = Command::new(exe)
            .args([
                "compute-version",
                "--repo",
                &repo_arg,
                "--release-type",
                "NONE",
            ])
            .env_remove("GITHUB_OUTPUT")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("current_version=").map(str::to_string))
            .unwrap_or_default()
    };
    let mut describe = || git(repo, &["describe", "--tags", "--abbrev=0"]);
    let mut pipeline = || {
        let out = Command::new("sh")
            .arg("-c")
            .arg("git tag -l 'v*' --sort=-version:refname --merged HEAD | grep -E '^v[0-9]+\\.[0-9]+\\.[0-9]+$' | head -n 1")
            .current_dir(repo)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let results = race(rounds, &mut [&mut ours, &mut describe, &mut pipeline]);
    println!("\n{case}: {rounds} rounds");
    println!(
        "{:<38} {:>12} {:>9} {:>9}",
        "", "answer", "p50 ms", "p90 ms"
    );
    for (name, r) in [
        "infrastream-ci compute-version",
        "git describe --tags --abbrev=0",
        "original pipeline (tag --merged)",
    ]
    .iter()
    .zip(&results)
    {
        println!("{name:<38} {:>12} {:>9.2} {:>9.2}", r.0, r.1, r.2);
    }
    let [ours, describe, pipeline] = [&results[0], &results[1], &results[2]];
    assert_eq!(
        ours.0, pipeline.0,
        "compute-version must give the pipeline's answer"
    );
    println!(
        "ratios (p50): {:.2}x git describe's speed, {:.2}x the original pipeline's",
        describe.1 / ours.1,
        pipeline.1 / ours.1
    );
}

fn main() {
    let commits = env_usize("COMMITS", 50_000);
    let rounds = env_usize("ROUNDS", 100);
    let repo = repository(commits);
    let tags = git(&repo, &["tag", "-l"]).lines().count();
    git(&repo, &["checkout", "--quiet", "main"]);
    let total = git(&repo, &["rev-list", "--count", "HEAD"]);
    println!(
        "repository: {total} commits reachable from main, {tags} tags, merges every 20 commits"
    );
    let last_release = git(&repo, &["tag", "-l", "v1.*", "--sort=-version:refname"])
        .lines()
        .find(|t| !t.contains('-'))
        .unwrap()
        .to_string();

    let cases = [
        (
            format!("HEAD on {last_release}"),
            format!("{last_release}^{{commit}}"),
        ),
        ("HEAD 7 commits past it".to_string(), "main".to_string()),
    ];
    for graph in [true, false] {
        set_commit_graph(&repo, graph);
        for (case, checkout) in &cases {
            if checkout == "main" {
                git(&repo, &["checkout", "--quiet", "main"]);
            } else {
                git(&repo, &["checkout", "--quiet", "--detach", checkout]);
            }
            let with = if graph {
                "a commit-graph"
            } else {
                "no commit-graph"
            };
            compare(&repo, &format!("{case}, {with}"), rounds);
        }
    }
    set_commit_graph(&repo, true);
    git(&repo, &["checkout", "--quiet", "main"]);

    // A real repository, when one is given: cloned as CI clones (full history, refs packed,
    // no commit-graph), then with a commit-graph written.
    if let Some(source) = std::env::var_os("REPO") {
        let real = real_clone(Path::new(&source));
        let real_rounds = env_usize("REAL_ROUNDS", 20);
        let total = git(&real, &["rev-list", "--count", "HEAD"]);
        let tags = git(&real, &["tag", "-l"]).lines().count();
        println!(
            "\nreal repository {}: {total} commits reachable from HEAD, {tags} tags",
            Path::new(&source).display()
        );
        for graph in [false, true] {
            set_commit_graph(&real, graph);
            let with = if graph {
                "a commit-graph"
            } else {
                "no commit-graph (a fresh clone)"
            };
            compare(
                &real,
                &format!("real repository, HEAD on its default branch, {with}"),
                real_rounds,
            );
        }
        // A build of the release before the last (a hotfix): the last release is not merged,
        // and proving it takes a longer walk.
        set_commit_graph(&real, false);
        let releases = git(&real, &["tag", "-l", "v*", "--sort=-version:refname"]);
        let mut releases = releases.lines().filter(|t| {
            t.strip_prefix('v').is_some_and(|v| {
                v.split('.').count() == 3 && v.split('.').all(|p| p.parse::<u64>().is_ok())
            })
        });
        if let (Some(_), Some(previous)) = (releases.next(), releases.next()) {
            git(&real, &["checkout", "--quiet", "--detach", previous]);
            compare(
                &real,
                &format!(
                    "real repository, HEAD on {previous} (the release before the last), no commit-graph"
                ),
                real_rounds,
            );
            git(&real, &["checkout", "--quiet", "-"]);
        }
    }

    git(&repo, &["checkout", "--quiet", "main"]);

    // The changelog of the last 50 releases.
    let to = git(
        &repo,
        &[
            "describe",
            "--tags",
            "--abbrev=0",
            "--match",
            "v*.*.*",
            "--exclude",
            "*-*",
        ],
    );
    let log = git(&repo, &["tag", "-l", "v1.*", "--sort=-version:refname"]);
    // 50 releases back (pre-release tags left out).
    let from = log
        .lines()
        .filter(|t| !t.contains('-'))
        .nth(50)
        .unwrap_or("v1.0.1")
        .to_string();
    let range_commits = git(&repo, &["rev-list", "--count", &format!("{from}..{to}")]);
    println!("\nchangelog {from}..{to}: {range_commits} commits");
    let exe = env!("CARGO_BIN_EXE_infrastream-ci");
    let repo_arg = repo.to_string_lossy().to_string();
    let mut ours = || {
        let out = Command::new(exe)
            .args([
                "changelog",
                "--repo",
                &repo_arg,
                "--from",
                &from,
                "--to",
                &to,
            ])
            .output()
            .unwrap();
        format!(
            "{} lines",
            String::from_utf8_lossy(&out.stdout).lines().count()
        )
    };
    let cliff_installed = Command::new("git-cliff")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if cliff_installed {
        // git-cliff's default configuration (no cliff.toml): a section per tag in the range,
        // pre-releases included, so its line count differs; both read the same commits.
        let mut cliff = || {
            // In the repository (`--repository` from elsewhere fails in git-cliff 2.14).
            let out = Command::new("git-cliff")
                .arg(format!("{from}..{to}"))
                .current_dir(&repo)
                .stderr(Stdio::null())
                .output()
                .unwrap();
            format!(
                "{} lines",
                String::from_utf8_lossy(&out.stdout).lines().count()
            )
        };
        let results = race(rounds.min(30), &mut [&mut ours, &mut cliff]);
        let (ours, cliff) = (&results[0], &results[1]);
        println!(
            "infrastream-ci changelog: {} p50 {:.1} ms; git-cliff: {} p50 {:.1} ms; \
             ratio {:.2}x git-cliff's speed",
            ours.0,
            ours.1,
            cliff.0,
            cliff.1,
            cliff.1 / ours.1
        );
    } else {
        let ours = time(rounds.min(30), ours);
        println!("infrastream-ci changelog: {} p50 {:.1} ms", ours.0, ours.1);
        println!(
            "git-cliff is not installed (cargo install git-cliff): changelog comparison skipped"
        );
    }
}
