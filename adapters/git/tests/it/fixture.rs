//! Bare repositories in a temporary directory, optionally served by `git daemon`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cd_contract::{RepoFixture, RepoHandle};
use cd_git::{GitConfig, GitRepo};
use cd_ports::ManifestRepo;

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A directory of bare repositories.
pub(crate) struct Remotes {
    dir: tempfile::TempDir,
    next: AtomicU32,
    url_base: Option<String>,
}

impl Remotes {
    pub(crate) fn new() -> Self {
        Remotes {
            dir: tempfile::tempdir().unwrap(),
            next: AtomicU32::new(0),
            url_base: None,
        }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The same repositories, reached through `git daemon`.
    pub(crate) fn served_by(&self, daemon: &Daemon) -> Remotes {
        Remotes {
            dir: tempfile::TempDir::new_in(self.root()).unwrap(),
            next: AtomicU32::new(0),
            url_base: Some(format!("git://127.0.0.1:{}/{}", daemon.port, "")),
        }
    }

    /// A new bare repository whose `main` holds `files`; returns (url, bare path).
    pub(crate) fn create(&self, files: &[(String, String)]) -> (String, PathBuf) {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let bare = self.dir.path().join(format!("r{n}.git"));
        Command::new("git")
            .args(["init", "--quiet", "--bare", "-b", "main"])
            .arg(&bare)
            .status()
            .unwrap();
        git(&bare, &["config", "daemon.receivepack", "true"]);
        let seed = self.dir.path().join(format!("seed{n}"));
        std::fs::create_dir_all(&seed).unwrap();
        git(&seed, &["init", "--quiet", "-b", "main"]);
        for (path, text) in files {
            let full = seed.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        git(&seed, &["add", "--all"]);
        git(
            &seed,
            &[
                "-c",
                "user.name=Seed",
                "-c",
                "user.email=seed@example.com",
                "commit",
                "--quiet",
                "-m",
                "initial",
            ],
        );
        git(
            &seed,
            &[
                "push",
                "--quiet",
                bare.to_str().unwrap(),
                "HEAD:refs/heads/main",
            ],
        );
        let url = match &self.url_base {
            // git daemon serves paths relative to its base path.
            Some(base) => {
                let root = self.dir.path().parent().unwrap();
                format!("{base}{}", bare.strip_prefix(root).unwrap().display())
            }
            None => bare.to_string_lossy().into_owned(),
        };
        (url, bare)
    }

    /// Opens the adapter on `url` with a fresh working clone.
    pub(crate) fn open(&self, url: &str) -> GitRepo {
        self.open_with_attempts(url, GitConfig::new(url, Path::new("")).push_attempts)
    }

    /// A writer that re-applies its edits up to `push_attempts` times after losing a race.
    pub(crate) fn open_with_attempts(&self, url: &str, push_attempts: u32) -> GitRepo {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let mut config = GitConfig::new(url, &self.dir.path().join(format!("work{n}")));
        config.push_attempts = push_attempts;
        GitRepo::open(config).unwrap()
    }
}

/// Commits as another writer, from a clone of its own.
pub(crate) fn commit_as_other(remote: &str, scratch: &Path, path: &str, text: &str, message: &str) {
    let _ = std::fs::remove_dir_all(scratch);
    let out = Command::new("git")
        .args(["clone", "--quiet", remote])
        .arg(scratch)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = scratch.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
    git(scratch, &["add", "--all"]);
    git(
        scratch,
        &[
            "-c",
            "user.name=Human",
            "-c",
            "user.email=human@example.com",
            "commit",
            "--quiet",
            "-m",
            message,
        ],
    );
    git(
        scratch,
        &["push", "--quiet", "origin", "HEAD:refs/heads/main"],
    );
}

struct Handle {
    repo: Arc<GitRepo>,
    url: String,
    scratch: PathBuf,
}

#[async_trait]
impl RepoHandle for Handle {
    fn repo(&self) -> Arc<dyn ManifestRepo> {
        self.repo.clone()
    }
    async fn commit_as_other(&self, path: &str, text: &str, message: &str) {
        commit_as_other(&self.url, &self.scratch, path, text, message);
    }
}

#[async_trait]
impl RepoFixture for Remotes {
    async fn fresh(&self, files: &[(String, String)]) -> Box<dyn RepoHandle> {
        let (url, _) = self.create(files);
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        Box::new(Handle {
            repo: Arc::new(self.open(&url)),
            url,
            scratch: self.dir.path().join(format!("human{n}")),
        })
    }
}

/// `git daemon` on 127.0.0.1 on a free port, serving a directory; stopped when dropped.
pub(crate) struct Daemon {
    child: Child,
    pub(crate) port: u16,
}

impl Daemon {
    pub(crate) fn start(base: &Path) -> Daemon {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon runs (it ships with git)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "git daemon did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, port }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
