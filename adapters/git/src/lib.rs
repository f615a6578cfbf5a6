//! `cd-git`: the manifest repository over any git remote (a path, `file://`, `git://`, `ssh://`
//! or `https://` with a token), through the `git` command line.
//!
//! The adapter keeps a private working clone. A write fetches, resets to the remote branch,
//! applies the edits with cd-core's format-preserving editor, commits with the configured author
//! and pushes. A push that loses a race is retried on the new head (bounded), never forced, so
//! another writer's commit is never lost; if the other writer changed a version line this write
//! also changes, the write stops with `Conflict` instead of overwriting a human's edit.
//!
//! Why the git CLI rather than git2 or gix: it pushes over every transport with every kind of
//! authentication users already configure (credential helpers, SSH agents, tokens), it adds
//! nothing to the build (git2 links libssl and libgit2; gix cannot push), and its cost, a process
//! per command, is measured in docs/PERFORMANCE.md.

#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cd_core::manifest::{Catalog, Selector, set_version};
use cd_core::pipeline::{DEPLOYMENT_TRAILER, ManifestCommit, ManifestEdit, Promotion};
use cd_ports::{ManifestRepo, RepoError};

pub mod output;
mod source;
mod tree;
pub use source::LocalSourceHost;
pub use tree::read_manifest_tree;

/// How to reach and write the manifest repository.
#[derive(Clone, PartialEq, Eq)]
pub struct GitConfig {
    /// The remote: a path, `file://`, `git://`, `ssh://` or `https://` URL.
    pub remote: String,
    /// The branch the engine reconciles.
    pub branch: String,
    /// Where the private working clone lives.
    pub workdir: PathBuf,
    /// Commit author name.
    pub author_name: String,
    /// Commit author email.
    pub author_email: String,
    /// An `https` token (sent as HTTP basic auth, user `x-access-token`), never logged.
    pub token: Option<String>,
    /// How many times a write re-applies its edits after losing a push race.
    pub push_attempts: u32,
}

impl GitConfig {
    /// A configuration with the default branch (`main`), author and retry bound.
    #[must_use]
    pub fn new(remote: &str, workdir: &Path) -> Self {
        GitConfig {
            remote: remote.to_string(),
            branch: "main".into(),
            workdir: workdir.to_path_buf(),
            author_name: "Infrastream CD".into(),
            author_email: "cd@infrastream.invalid".into(),
            token: None,
            push_attempts: 12,
        }
    }
}

// The token never reaches a log line.
impl std::fmt::Debug for GitConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitConfig")
            .field("remote", &self.remote)
            .field("branch", &self.branch)
            .field("workdir", &self.workdir)
            .field("author_name", &self.author_name)
            .field("author_email", &self.author_email)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("push_attempts", &self.push_attempts)
            .finish()
    }
}

/// The manifest repository behind a git remote.
#[derive(Debug)]
pub struct GitRepo {
    config: GitConfig,
    /// Held for every use of the private clone.
    lock: Mutex<CloneState>,
}

/// What this process knows of its private clone.
#[derive(Debug, Default)]
struct CloneState {
    /// The commit that the clone's HEAD and the remote branch were both at after this
    /// process's last fetch or push, with nothing changed in the working tree since: a write
    /// may then skip the fetch (a push that finds the remote moved loses the race, and the
    /// next attempt fetches). `None` when unknown: every failure forgets it.
    synced: Option<String>,
    /// Commits made since git's own housekeeping last ran (see `WRITES_PER_MAINTENANCE`).
    writes: u32,
    /// The promotions already on the branch, as of some head.
    promotions: Promotions,
}

/// The promotions in the history of one commit, by their trailers. What a commit's history
/// holds never changes (ids hash it), so this is kept, and extended as the branch grows.
#[derive(Debug, Default)]
struct Promotions {
    /// The commit whose history this describes.
    upto: Option<String>,
    /// Each promotion's commit.
    commits: std::collections::HashMap<Promotion, String>,
}

/// How many commits the private clone takes between runs of `git maintenance run --auto`.
/// Git would run it after every commit (a process each time, about 2 ms, that almost always
/// finds nothing to do); here it runs once per this many writes. Fetches keep git's own
/// housekeeping: a clone that only reads (the engine's) still gets it.
const WRITES_PER_MAINTENANCE: u32 = 64;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_string()
}

/// Runs `git` in `dir` without a terminal prompt, with a stable locale for parsing messages.
fn run_git(dir: Option<&Path>, token: Option<&str>, args: &[&str]) -> Result<Output, RepoError> {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.arg("-C").arg(dir);
    }
    if let Some(token) = token {
        // Basic auth with the token as password: what GitHub and most hosts accept for tokens.
        // Passed in the environment, which only this user can read, never on the command line,
        // which `ps` shows to everyone.
        let header = format!(
            "Authorization: Basic {}",
            BASE64.encode(format!("x-access-token:{token}"))
        );
        cmd.env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_0", header);
    }
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        // An http transfer slower than 1 KB/s for a minute is abandoned instead of hanging.
        .env("GIT_HTTP_LOW_SPEED_LIMIT", "1000")
        .env("GIT_HTTP_LOW_SPEED_TIME", "60")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    cmd.output()
        .map_err(|e| RepoError::Unavailable(format!("cannot run git: {e}")))
}

fn failed(what: &str, out: &Output) -> RepoError {
    output::failure(what, &text(&out.stderr))
}

/// The `spec.version` of the DeploymentConfig `application`/`environment` in `text`.
fn version_in(path: &str, text: &str, application: &str, environment: &str) -> Option<String> {
    let catalog = Catalog::load([(path, text)]).catalog;
    catalog
        .deployment_config(application, environment)?
        .version
        .clone()
}

impl GitRepo {
    /// Opens the repository: clones the remote into `workdir` unless a clone of it is there.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the remote cannot be reached, [`RepoError::Invalid`] when
    /// the workdir holds something else or the branch does not exist.
    pub fn open(config: GitConfig) -> Result<Self, RepoError> {
        let repo = GitRepo {
            config,
            lock: Mutex::new(CloneState::default()),
        };
        let workdir = &repo.config.workdir;
        if workdir.join(".git").is_dir() {
            let url = repo.git(&["config", "--get", "remote.origin.url"])?;
            if text(&url.stdout) != repo.config.remote {
                return Err(RepoError::Invalid(format!(
                    "{} is a clone of {}, not {}",
                    workdir.display(),
                    text(&url.stdout),
                    repo.config.remote
                )));
            }
        } else {
            if let Some(parent) = workdir.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| RepoError::Unavailable(format!("{}: {e}", parent.display())))?;
            }
            let dir = workdir.to_string_lossy().into_owned();
            let out = run_git(
                None,
                repo.config.token.as_deref(),
                &["clone", "--quiet", "--no-tags", &repo.config.remote, &dir],
            )?;
            if !out.status.success() {
                return Err(failed("git clone", &out));
            }
        }
        repo.sync()?;
        let remote = repo.remote_ref();
        repo.git_ok(
            "git checkout",
            &["checkout", "--quiet", "-B", &repo.config.branch, &remote],
        )?;
        Ok(repo)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &GitConfig {
        &self.config
    }

    fn git(&self, args: &[&str]) -> Result<Output, RepoError> {
        run_git(
            Some(&self.config.workdir),
            self.config.token.as_deref(),
            args,
        )
    }

    fn git_ok(&self, what: &str, args: &[&str]) -> Result<String, RepoError> {
        let out = self.git(args)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(failed(what, &out))
        }
    }

    fn remote_ref(&self) -> String {
        format!("origin/{}", self.config.branch)
    }

    /// Fetches and resets the private clone to the remote branch.
    fn fetch_reset(&self) -> Result<(), RepoError> {
        let refspec = format!(
            "+refs/heads/{0}:refs/remotes/origin/{0}",
            self.config.branch
        );
        self.git_ok(
            "git fetch",
            &["fetch", "--quiet", "--no-tags", "origin", &refspec],
        )?;
        let remote = self.remote_ref();
        // We only ever edit tracked files, so a hard reset restores the clone exactly.
        self.git_ok("git reset", &["reset", "--quiet", "--hard", &remote])?;
        Ok(())
    }

    /// Like `fetch_reset`, and returns the head.
    fn sync(&self) -> Result<String, RepoError> {
        self.fetch_reset()?;
        self.head_commit()
    }

    /// HEAD's commit, read from the branch's ref file, which `git commit` and `git reset`
    /// write (a process saved per write); git answers when HEAD is not that branch or the ref
    /// is not a plain file (packed, or in a reftable).
    fn head_commit(&self) -> Result<String, RepoError> {
        let git_dir = self.config.workdir.join(".git");
        let on_branch = std::fs::read_to_string(git_dir.join("HEAD"))
            .is_ok_and(|h| h.trim() == format!("ref: refs/heads/{}", self.config.branch));
        if on_branch
            && let Ok(id) =
                std::fs::read_to_string(git_dir.join("refs/heads").join(&self.config.branch))
        {
            let id = id.trim();
            if (id.len() == 40 || id.len() == 64) && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(id.to_string());
            }
        }
        Ok(self
            .git_ok("git rev-parse", &["rev-parse", "HEAD"])?
            .trim()
            .to_string())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, CloneState>, RepoError> {
        self.lock
            .lock()
            .map_err(|_| RepoError::Unavailable("repository lock poisoned".into()))
    }

    /// A commit on the branch that is `promotion` (by its trailers), searched from HEAD, which
    /// is the remote branch's head when this is asked (just reset to it, or known in sync).
    /// `known` holds the promotions of an earlier head: only the commits since are read (none
    /// when HEAD has not moved), so the lookup does not grow with the branch's history.
    fn find_promotion(
        &self,
        known: &mut Promotions,
        promotion: &Promotion,
        head: &str,
    ) -> Result<Option<String>, RepoError> {
        if known.upto.as_deref() != Some(head) {
            let range = match known.upto.as_deref() {
                Some(upto) if self.is_ancestor(upto, head)? => format!("{upto}..{head}"),
                // History was rewritten (or nothing is known yet): read it all.
                _ => {
                    known.commits.clear();
                    head.to_string()
                }
            };
            let listing = self.git_ok(
                "git log",
                &[
                    "log",
                    "--format=%H%x1f%B%x1e",
                    "--fixed-strings",
                    &format!("--grep={DEPLOYMENT_TRAILER}: "),
                    &range,
                ],
            )?;
            // Oldest first, so that of two commits of one promotion the newest is kept.
            let found: Vec<(Promotion, String)> = output::promotions(&listing).collect();
            known.commits.extend(found.into_iter().rev());
            known.upto = Some(head.to_string());
        }
        Ok(known.commits.get(promotion).cloned())
    }

    /// Whether `ancestor` is in the history of `commit` (false when git does not know it).
    fn is_ancestor(&self, ancestor: &str, commit: &str) -> Result<bool, RepoError> {
        let out = self.git(&["merge-base", "--is-ancestor", ancestor, commit])?;
        Ok(out.status.success())
    }

    fn read_file(&self, path: &str) -> Result<String, RepoError> {
        std::fs::read_to_string(self.config.workdir.join(path))
            .map_err(|e| RepoError::Invalid(format!("{path}: {e}")))
    }

    /// Seeds an empty remote with `files` as its first commit on the branch (used once, to
    /// initialise a manifest repository).
    ///
    /// # Errors
    /// [`RepoError`] when git fails.
    pub fn seed_remote(config: &GitConfig, files: &[(String, String)]) -> Result<(), RepoError> {
        let tmp = config.workdir.with_extension("seed");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| RepoError::Unavailable(e.to_string()))?;
        let run = |args: &[&str]| -> Result<(), RepoError> {
            let out = run_git(Some(&tmp), config.token.as_deref(), args)?;
            if out.status.success() {
                Ok(())
            } else {
                Err(failed("seeding the manifest repository", &out))
            }
        };
        run(&["init", "--quiet", "-b", &config.branch])?;
        for (path, content) in files {
            let full = tmp.join(path);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| RepoError::Unavailable(e.to_string()))?;
            }
            std::fs::write(&full, content).map_err(|e| RepoError::Unavailable(e.to_string()))?;
        }
        run(&["add", "--all"])?;
        let name = format!("user.name={}", config.author_name);
        let email = format!("user.email={}", config.author_email);
        run(&[
            "-c",
            &name,
            "-c",
            &email,
            "commit",
            "--quiet",
            "-m",
            "manifests: initial tenant",
        ])?;
        run(&[
            "push",
            "--quiet",
            &config.remote,
            &format!("HEAD:refs/heads/{}", config.branch),
        ])?;
        let _ = std::fs::remove_dir_all(&tmp);
        Ok(())
    }

    /// Whether the remote has the branch (an empty remote does not).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the remote cannot be reached.
    pub fn remote_has_branch(config: &GitConfig) -> Result<bool, RepoError> {
        let out = run_git(
            None,
            config.token.as_deref(),
            &["ls-remote", "--heads", &config.remote, &config.branch],
        )?;
        if !out.status.success() {
            return Err(failed("git ls-remote", &out));
        }
        Ok(!text(&out.stdout).is_empty())
    }

    /// One attempt at a write: from the remote's head (fetched, unless `in_sync`), the edits
    /// applied, committed and pushed. A clone trusted without a fetch that finds the promotion
    /// already made, or nothing to change, may be behind: it is fetched and asked again.
    fn write_once(
        &self,
        known: &mut Promotions,
        edits: &[ManifestEdit],
        commit: &ManifestCommit,
        seen: &mut BTreeMap<String, Option<String>>,
        in_sync: bool,
    ) -> Result<Attempt, RepoError> {
        if !in_sync {
            self.fetch_reset()?;
        }
        let message = commit.message.as_str();
        let parent = self.head_commit()?;
        if let Some(promotion) = &commit.promotion
            && let Some(found) = self.find_promotion(known, promotion, &parent)?
        {
            // A repeat found in a clone trusted without a fetch: only the remote can say that
            // commit is still on the branch (a force push may have taken it away).
            if in_sync {
                return self.write_once(known, edits, commit, seen, false);
            }
            return Ok(Attempt::Done(Some(found)));
        }
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        let mut originals: BTreeMap<String, String> = BTreeMap::new();
        for e in edits {
            let current = match files.get(&e.path) {
                Some(t) => t.clone(),
                None => {
                    let text = self.read_file(&e.path)?;
                    originals.insert(e.path.clone(), text.clone());
                    text
                }
            };
            let now = version_in(&e.path, &current, &e.application, &e.environment);
            let key = format!("{}#{}@{}", e.path, e.application, e.environment);
            // Only a tree just fetched says what the remote holds: a trusted clone may be
            // behind, and what it read would make a later attempt's fetch look like a conflict.
            let remembered = if in_sync { None } else { seen.get(&key) };
            match remembered {
                // Another writer changed this very line since our first attempt read it.
                Some(before) if *before != now && now.as_deref() != Some(e.version.as_str()) => {
                    return Err(RepoError::Conflict(format!(
                        "{}: spec.version of {} in {} was changed by another commit to {} while this write was pushing {}",
                        e.path,
                        e.application,
                        e.environment,
                        now.unwrap_or_default(),
                        e.version
                    )));
                }
                Some(_) => {}
                None if in_sync => {}
                None => {
                    seen.insert(key, now);
                }
            }
            let selector = Selector::Named {
                application: &e.application,
                environment: &e.environment,
            };
            let edited = set_version(&current, selector, &e.version)
                .map_err(|err| RepoError::Invalid(format!("{}: {err}", e.path)))?;
            files.insert(e.path.clone(), edited);
        }
        let mut changed = false;
        for (path, content) in &files {
            if originals.get(path) != Some(content) {
                std::fs::write(self.config.workdir.join(path), content)
                    .map_err(|e| RepoError::Unavailable(format!("{path}: {e}")))?;
                changed = true;
            }
        }
        if !changed {
            // Nothing to change in a clone trusted without a fetch may only mean it is behind
            // (another writer set the line back): only the remote's head can say.
            return if in_sync {
                self.write_once(known, edits, commit, seen, false)
            } else {
                Ok(Attempt::Done(None))
            };
        }
        // Only the edited files differ from the freshly reset head, so `-a` commits exactly them.
        let name = format!("user.name={}", self.config.author_name);
        let email = format!("user.email={}", self.config.author_email);
        self.git_ok(
            "git commit",
            &[
                "-c",
                &name,
                "-c",
                &email,
                "-c",
                "maintenance.auto=false",
                "commit",
                "--quiet",
                "--no-verify",
                "-a",
                "-m",
                message,
            ],
        )?;
        let made = self.head_commit()?;
        let target = format!("HEAD:refs/heads/{}", self.config.branch);
        // Only onto the head this commit was made on: a remote that moved, backwards too (a
        // force push that took commits away), refuses it, and the next attempt fetches. A plain
        // push would fast-forward a rewound branch and bring the removed commits back.
        let lease = format!(
            "--force-with-lease=refs/heads/{}:{parent}",
            self.config.branch
        );
        let out = self.git(&["push", "--quiet", "--porcelain", &lease, "origin", &target])?;
        if out.status.success() {
            // The new head's promotions are the parent's and this one.
            if known.upto.as_deref() == Some(parent.as_str()) {
                if let Some(promotion) = &commit.promotion {
                    known.commits.insert(promotion.clone(), made.clone());
                }
                known.upto = Some(made.clone());
            }
            return Ok(Attempt::Done(Some(made)));
        }
        let report = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
        if report.contains("[rejected]")
            || report.contains("non-fast-forward")
            || report.contains("fetch first")
            || report.contains("[remote rejected]") && report.contains("cannot lock ref")
        {
            tracing::debug!(remote = %self.config.remote, "push lost a race; re-applying on the new head");
            return Ok(Attempt::LostRace);
        }
        Err(failed("git push", &out))
    }
}

enum Attempt {
    Done(Option<String>),
    LostRace,
}

/// A random wait before re-applying after a lost race, growing with each attempt, so writers
/// that collided do not collide again in lockstep.
fn backoff(attempt: u32) -> std::time::Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let ceiling_ms = 10u64 << attempt.min(7);
    std::time::Duration::from_millis(u64::from(nanos) % ceiling_ms.max(1))
}

#[async_trait]
impl ManifestRepo for GitRepo {
    async fn read(&self) -> Result<(String, Vec<(String, String)>), RepoError> {
        let mut clone = self.lock()?;
        clone.synced = None;
        let head = self.sync()?;
        clone.synced = Some(head.clone());
        let listing = self.git_ok("git ls-files", &["ls-files", "-z"])?;
        let mut files = Vec::new();
        for path in output::nul_paths(&listing) {
            if path.ends_with(".yaml") || path.ends_with(".yml") {
                files.push((path.clone(), self.read_file(&path)?));
            }
        }
        Ok((head, files))
    }

    async fn write(
        &self,
        edits: &[ManifestEdit],
        commit: &ManifestCommit,
    ) -> Result<Option<String>, RepoError> {
        let mut clone = self.lock()?;
        let mut seen = BTreeMap::new();
        for attempt in 0..self.config.push_attempts.max(1) {
            // Forgotten until this attempt ends well: a failure may leave the tree edited.
            let synced = clone.synced.take();
            // The clone's HEAD is still the commit this process last fetched or pushed: the
            // first attempt starts from it, and a push that finds the remote moved loses the
            // race like any other. Later attempts fetch.
            let in_sync = attempt == 0
                && synced.is_some()
                && synced.as_deref() == self.head_commit().ok().as_deref();
            match self.write_once(&mut clone.promotions, edits, commit, &mut seen, in_sync)? {
                Attempt::Done(made) => {
                    clone.synced = self.head_commit().ok();
                    if made.is_some() {
                        clone.writes += 1;
                        if clone.writes >= WRITES_PER_MAINTENANCE {
                            clone.writes = 0;
                            // Housekeeping only: a failure here is git's to report next time.
                            let _ = self.git(&["maintenance", "run", "--auto", "--quiet"]);
                        }
                    }
                    return Ok(made);
                }
                Attempt::LostRace => std::thread::sleep(backoff(attempt)),
            }
        }
        Err(RepoError::Conflict(format!(
            "lost {} push races in a row to {}",
            self.config.push_attempts, self.config.remote
        )))
    }

    async fn changed_files(&self, commit: &str) -> Result<Vec<String>, RepoError> {
        let mut clone = self.lock()?;
        self.have_commit(&mut clone, commit)?;
        let parents = self.git_ok(
            "git rev-list",
            &["rev-list", "--parents", "-n", "1", commit],
        )?;
        let has_parent = output::has_parent(&parents);
        // -z: paths as they are, never quoted (a quoted non-ASCII path would miss its file).
        let list = if has_parent {
            let range = format!("{commit}^1");
            self.git_ok(
                "git diff",
                &["diff", "-z", "--name-only", "--no-renames", &range, commit],
            )?
        } else {
            self.git_ok(
                "git show",
                &["show", "-z", "--name-only", "--format=", commit],
            )?
        };
        Ok(output::nul_paths(&list))
    }

    async fn message(&self, commit: &str) -> Result<String, RepoError> {
        let mut clone = self.lock()?;
        self.have_commit(&mut clone, commit)?;
        self.git_ok("git log", &["log", "-1", "--format=%B", commit])
    }

    async fn commits_since(&self, since: Option<&str>) -> Result<Vec<String>, RepoError> {
        let mut clone = self.lock()?;
        // A fetch and reset that fail halfway may leave the tree changed: forgotten until done.
        clone.synced = None;
        clone.synced = Some(self.sync()?);
        let remote = self.remote_ref();
        let range = match since {
            Some(s) => {
                self.have_commit(&mut clone, s)?;
                format!("{s}..{remote}")
            }
            None => remote,
        };
        let list = self.git_ok(
            "git rev-list",
            &["rev-list", "--reverse", "--first-parent", &range],
        )?;
        Ok(list.lines().map(str::to_string).collect())
    }

    /// `git ls-remote` of the branch: no fetch, no lock on the private clone.
    async fn reachable(&self) -> Result<(), RepoError> {
        if GitRepo::remote_has_branch(&self.config)? {
            Ok(())
        } else {
            Err(RepoError::Unavailable(format!(
                "the manifest remote has no branch '{}'",
                self.config.branch
            )))
        }
    }
}

impl GitRepo {
    /// The text of `path` at `commit` (the engine reads each commit as it was).
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the commit or the file does not exist there.
    pub fn file_at(&self, commit: &str, path: &str) -> Result<String, RepoError> {
        let mut clone = self.lock()?;
        self.have_commit(&mut clone, commit)?;
        let spec = format!("{commit}:{path}");
        let out = self.git(&["show", &spec])?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(RepoError::NotFound(format!("{path} at {commit}")))
        }
    }

    /// `ensure_commit`, keeping what is known of the clone true: a fetch and reset that fail
    /// halfway may leave the tree changed, and one that succeeds leaves it at the remote's head.
    fn have_commit(&self, clone: &mut CloneState, commit: &str) -> Result<(), RepoError> {
        let synced = clone.synced.take();
        let fetched = self.ensure_commit(commit)?;
        clone.synced = if fetched {
            self.head_commit().ok()
        } else {
            synced
        };
        Ok(())
    }

    /// Makes sure `commit` is in the clone (fetching once), or reports it missing; whether it
    /// fetched (and so reset the clone to the remote's head).
    fn ensure_commit(&self, commit: &str) -> Result<bool, RepoError> {
        let valid = !commit.is_empty() && commit.chars().all(|c| c.is_ascii_hexdigit());
        if !valid {
            return Err(RepoError::NotFound(format!(
                "'{commit}' is not a commit id"
            )));
        }
        let object = format!("{commit}^{{commit}}");
        if self.git(&["cat-file", "-e", &object])?.status.success() {
            return Ok(false);
        }
        self.sync()?;
        if self.git(&["cat-file", "-e", &object])?.status.success() {
            Ok(true)
        } else {
            Err(RepoError::NotFound(format!("commit {commit}")))
        }
    }
}
