//! What the service benches share: the served binary, percentiles, git, and the floor every
//! figure is compared with (raw `git commit && git push` of a one-line change).

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

pub(crate) fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `infrastream serve`, killed when dropped.
pub(crate) struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the release `infrastream serve` on embedded defaults in `dir` (seeded from
/// `manifests`, or the example tenant), on any free port; returns it and its URL.
pub(crate) fn serve(dir: &Path, manifests: Option<&Path>) -> (Served, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_infrastream"));
    command.args(["serve", "--dir"]).arg(dir);
    if let Some(manifests) = manifests {
        command.arg("--manifests").arg(manifests);
    }
    let mut child = command
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("serve printed {line:?}"))
        .to_string();
    (Served(child), url)
}

/// Pushes images `app:v1.<n>.0` for `n` in `1..=builds` into the embedded registry of the
/// service in `dir`, as CI does before it notifies (a version without its image is refused).
pub(crate) fn push_builds(dir: &Path, apps: &[&str], builds: usize) {
    let layout = cd_oci::OciLayout::new(&dir.join("registry"));
    for app in apps {
        for n in 1..=builds {
            let tag = format!("v1.{n}.0");
            layout
                .push_image("containers", app, &tag, &format!("{app}@{tag}"))
                .unwrap();
        }
    }
}

/// The `p` quantile of `sorted`.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs git in `dir`; its standard output.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `rounds` serial `git commit -a && git push` of a one-line change to shop-api's development
/// DeploymentConfig, in a clone of a bare repository seeded with `files`: each one's time in ms.
pub(crate) fn raw_git(root: &Path, files: &[(String, String)], rounds: usize) -> Vec<f64> {
    let bare = root.join("raw.git");
    git(
        root,
        &[
            "init",
            "--quiet",
            "--bare",
            "-b",
            "main",
            &bare.to_string_lossy(),
        ],
    );
    let work = root.join("raw");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "--quiet", "-b", "main"]);
    git(&work, &["config", "user.name", "bench"]);
    git(&work, &["config", "user.email", "bench@example.invalid"]);
    git(&work, &["remote", "add", "origin", &bare.to_string_lossy()]);
    for (path, text) in files {
        let full = work.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    git(&work, &["add", "--all"]);
    git(&work, &["commit", "--quiet", "-m", "seed"]);
    git(
        &work,
        &["push", "--quiet", "origin", "HEAD:refs/heads/main"],
    );
    let file = work.join("apps/shop-api/deploy/development.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    let mut samples = Vec::with_capacity(rounds);
    for n in 0..rounds {
        let start = Instant::now();
        std::fs::write(
            &file,
            original.replace("version: v0.0.0", &format!("version: v1.{n}.0")),
        )
        .unwrap();
        git(&work, &["commit", "--quiet", "-a", "-m", "deploy"]);
        git(
            &work,
            &["push", "--quiet", "origin", "HEAD:refs/heads/main"],
        );
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    samples
}
