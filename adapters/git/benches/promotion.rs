//! One promotion commit+push through the git adapter against raw `git commit && git push` on
//! the same kind of repository, and eight racing writers each way. Prints figures; see
//! docs/PERFORMANCE.md for recorded results.
//!
//! Run: `cargo bench -p cd-git --bench promotion` (ROUNDS=n to change the sample size).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cd_core::pipeline::{DeploymentId, ManifestCommit, ManifestEdit, Promotion};
use cd_git::{GitConfig, GitRepo};
use cd_ports::ManifestRepo;
use futures_executor::block_on;

fn git(dir: &Path, args: &[&str]) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap()
        .status
        .success()
}

fn dc(app: &str, version: &str) -> String {
    format!(
        "apiVersion: lowops.manifests.v1\nkind: DeploymentConfig\nmetadata:\n  name: {app}\n  environment: dev\nspec:\n  # the CD engine writes this line\n  version: {version}\n"
    )
}

/// A bare remote whose `main` holds `apps` DeploymentConfigs and some history.
fn remote(root: &Path, apps: usize) -> String {
    let bare = root.join("remote.git");
    Command::new("git")
        .args(["init", "--quiet", "--bare", "-b", "main"])
        .arg(&bare)
        .status()
        .unwrap();
    let seed = root.join("seed");
    std::fs::create_dir_all(seed.join("apps")).unwrap();
    assert!(git(&seed, &["init", "--quiet", "-b", "main"]));
    for i in 0..apps {
        std::fs::write(
            seed.join(format!("apps/a{i}.yaml")),
            dc(&format!("a{i}"), "v0"),
        )
        .unwrap();
    }
    assert!(git(&seed, &["add", "--all"]));
    assert!(git(
        &seed,
        &[
            "-c",
            "user.name=s",
            "-c",
            "user.email=s@x",
            "commit",
            "--quiet",
            "-m",
            "init"
        ]
    ));
    assert!(git(
        &seed,
        &[
            "push",
            "--quiet",
            bare.to_str().unwrap(),
            "HEAD:refs/heads/main"
        ]
    ));
    bare.to_string_lossy().into_owned()
}

fn stats(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    (
        mean,
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
    )
}

fn adapter_promotions(root: &Path, url: &str, rounds: usize) -> Vec<Duration> {
    let repo = GitRepo::open(GitConfig::new(url, &root.join("adapter-clone"))).unwrap();
    (1..=rounds)
        .map(|i| {
            let edit = ManifestEdit {
                path: "apps/a0.yaml".into(),
                application: "a0".into(),
                environment: "dev".into(),
                version: format!("v{i}"),
            };
            let message = ManifestCommit::promotion(
                &format!("deploy(a0): v{i}"),
                Promotion {
                    deployment: DeploymentId(format!("bench-{i}")),
                    stage: 0,
                },
            );
            let t = Instant::now();
            assert!(block_on(repo.write(&[edit], &message)).unwrap().is_some());
            t.elapsed()
        })
        .collect()
}

fn raw_promotions(root: &Path, url: &str, rounds: usize) -> Vec<Duration> {
    let clone = root.join("raw-clone");
    Command::new("git")
        .args(["clone", "--quiet", url])
        .arg(&clone)
        .status()
        .unwrap();
    (1..=rounds)
        .map(|i| {
            let t = Instant::now();
            std::fs::write(clone.join("apps/a1.yaml"), dc("a1", &format!("v{i}"))).unwrap();
            assert!(git(
                &clone,
                &[
                    "-c",
                    "user.name=r",
                    "-c",
                    "user.email=r@x",
                    "commit",
                    "--quiet",
                    "-am",
                    &format!("deploy v{i}")
                ]
            ));
            assert!(git(
                &clone,
                &["push", "--quiet", "origin", "HEAD:refs/heads/main"]
            ));
            t.elapsed()
        })
        .collect()
}

fn adapter_race(root: &Path, url: &str, writers: usize, each: usize) -> Duration {
    let repos: Vec<Arc<GitRepo>> = (0..writers)
        .map(|w| {
            Arc::new(
                GitRepo::open(GitConfig::new(url, &root.join(format!("race-adapter-{w}"))))
                    .unwrap(),
            )
        })
        .collect();
    let t = Instant::now();
    let threads: Vec<_> = repos
        .into_iter()
        .enumerate()
        .map(|(w, repo)| {
            std::thread::spawn(move || {
                for i in 1..=each {
                    let edit = ManifestEdit {
                        path: format!("apps/a{w}.yaml"),
                        application: format!("a{w}"),
                        environment: "dev".into(),
                        version: format!("r{i}"),
                    };
                    let message = ManifestCommit::promotion(
                        "deploy",
                        Promotion {
                            deployment: DeploymentId(format!("race-{w}-{i}")),
                            stage: 0,
                        },
                    );
                    block_on(repo.write(&[edit], &message)).unwrap();
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    t.elapsed()
}

/// What a shell script would do: commit, and on a rejected push `pull --rebase` and push again.
fn raw_race(root: &Path, url: &str, writers: usize, each: usize) -> Duration {
    let clones: Vec<_> = (0..writers)
        .map(|w| {
            let dir = root.join(format!("race-raw-{w}"));
            Command::new("git")
                .args(["clone", "--quiet", url])
                .arg(&dir)
                .status()
                .unwrap();
            dir
        })
        .collect();
    let t = Instant::now();
    let threads: Vec<_> = clones
        .into_iter()
        .enumerate()
        .map(|(w, dir)| {
            std::thread::spawn(move || {
                for i in 1..=each {
                    std::fs::write(
                        dir.join(format!("apps/a{w}.yaml")),
                        dc(&format!("a{w}"), &format!("x{i}")),
                    )
                    .unwrap();
                    assert!(git(
                        &dir,
                        &[
                            "-c",
                            "user.name=r",
                            "-c",
                            "user.email=r@x",
                            "commit",
                            "--quiet",
                            "-am",
                            "deploy"
                        ]
                    ));
                    let mut tries = 0;
                    while !git(&dir, &["push", "--quiet", "origin", "HEAD:refs/heads/main"]) {
                        tries += 1;
                        assert!(tries < 100, "raw writer {w} starved");
                        git(
                            &dir,
                            &[
                                "-c",
                                "user.name=r",
                                "-c",
                                "user.email=r@x",
                                "pull",
                                "--quiet",
                                "--rebase",
                                "origin",
                                "main",
                            ],
                        );
                    }
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    t.elapsed()
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40);
    let dir = tempfile::tempdir().unwrap();
    let url = remote(dir.path(), 8);
    let adapter = stats(adapter_promotions(dir.path(), &url, rounds));
    let raw = stats(raw_promotions(dir.path(), &url, rounds));
    println!("one promotion (commit + push), {rounds} rounds, local bare remote");
    println!(
        "  {:<36} {:>9} {:>9} {:>9}",
        "", "mean ms", "p50 ms", "p90 ms"
    );
    println!(
        "  {:<36} {:>9.1} {:>9.1} {:>9.1}",
        "git adapter (edit, commit, push)", adapter.0, adapter.1, adapter.2
    );
    println!(
        "  {:<36} {:>9.1} {:>9.1} {:>9.1}",
        "raw git commit && git push", raw.0, raw.1, raw.2
    );
    println!("  ratio adapter/raw (p50): {:.2}", adapter.1 / raw.1);

    let (writers, each) = (8, 5);
    let race_dir = tempfile::tempdir().unwrap();
    let race_url = remote(race_dir.path(), writers);
    let a = adapter_race(race_dir.path(), &race_url, writers, each);
    let race_dir2 = tempfile::tempdir().unwrap();
    let race_url2 = remote(race_dir2.path(), writers);
    let r = raw_race(race_dir2.path(), &race_url2, writers, each);
    let total = (writers * each) as f64;
    println!("{writers} racing writers x {each} commits on one remote");
    println!(
        "  git adapter: {:.2} s, {:.1} commits/s",
        a.as_secs_f64(),
        total / a.as_secs_f64()
    );
    println!(
        "  raw git with pull --rebase retries: {:.2} s, {:.1} commits/s",
        r.as_secs_f64(),
        total / r.as_secs_f64()
    );
    println!(
        "  ratio adapter/raw (time): {:.2}",
        a.as_secs_f64() / r.as_secs_f64()
    );
}
