//! The policy set in force: read from a manifest tree (a directory, or a git remote kept in a
//! private clone), checked whole, and replaced only by another valid set.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use cd_core::manifest::{Catalog, TokenPolicy};
use cd_git::{GitConfig, GitRepo};
use cd_ports::ManifestRepo as _;

use crate::config::Config;

/// Where the manifests come from.
#[derive(Debug)]
pub enum Source {
    /// A directory read as it is.
    Directory(PathBuf),
    /// A git branch, fetched into a private clone on every read; the clone's directory, when
    /// the broker made it, is removed with it.
    Git(Box<GitRepo>, Option<tempfile::TempDir>),
}

/// A valid policy set and where it came from.
#[derive(Debug)]
pub struct PolicySet {
    /// The policies, by name.
    pub policies: Vec<TokenPolicy>,
    /// What was read: the commit, or a hash of the directory's files.
    pub version: String,
}

/// What is in force, and the last problem (cleared by the next valid read).
#[derive(Debug, Default)]
pub struct Policies {
    current: RwLock<Option<Arc<PolicySet>>>,
    problem: RwLock<Option<String>>,
}

impl Source {
    /// The source `config` names; a git remote is cloned now.
    ///
    /// # Errors
    /// Why the remote cannot be cloned.
    pub fn open(config: &Config) -> Result<Source, String> {
        match (&config.manifests, &config.manifests_remote) {
            (Some(dir), _) => Ok(Source::Directory(dir.clone())),
            (None, Some(remote)) => {
                // Without a configured directory, a fresh one only this user can enter: a
                // predictable path could be prepared by someone else with hooks or config.
                let (workdir, owned) = match &config.manifests_workdir {
                    Some(dir) => (dir.clone(), None),
                    None => {
                        let dir = tempfile::Builder::new()
                            .prefix("token-broker-manifests-")
                            .tempdir()
                            .map_err(|e| format!("manifests_workdir: {e}"))?;
                        (dir.path().join("clone"), Some(dir))
                    }
                };
                let mut git = GitConfig::new(remote, &workdir);
                git.branch = config.manifests_branch.clone();
                GitRepo::open(git)
                    .map(|r| Source::Git(Box::new(r), owned))
                    .map_err(|e| format!("manifests_remote: {e}"))
            }
            (None, None) => Err("no manifests configured".into()),
        }
    }

    /// Reads the files (blocking: file system or git).
    fn read(&self) -> Result<(String, Vec<(String, String)>), String> {
        match self {
            Source::Directory(dir) => {
                let files = cd_git::read_manifest_tree(dir)?;
                let mut hasher = DefaultHasher::new();
                files.hash(&mut hasher);
                Ok((format!("{:016x}", hasher.finish()), files))
            }
            Source::Git(repo, _) => futures_executor::block_on(repo.read())
                .map_err(|e| format!("manifests_remote: {e}")),
        }
    }
}

/// Reads and checks the whole tree, and that every granted repository is `owner`'s: any
/// problem in it refuses the set (a half-valid set could
/// drop a policy's restriction as easily as a grant).
///
/// # Errors
/// The number of problems and the first few, each naming file, line and field.
pub fn load(source: &Source, owner: &str) -> Result<PolicySet, String> {
    let (version, files) = source.read()?;
    let loaded = Catalog::load(files);
    let mut problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    if problems.is_empty() {
        problems = loaded.catalog.foreign_token_grants(owner);
    }
    if !problems.is_empty() {
        let first: Vec<&str> = problems.iter().take(3).map(String::as_str).collect();
        return Err(format!(
            "{} problem(s) in the manifests: {}",
            problems.len(),
            first.join("; ")
        ));
    }
    Ok(PolicySet {
        policies: loaded.catalog.token_policies.into_values().collect(),
        version,
    })
}

impl Policies {
    /// The set in force, if one was ever loaded.
    pub fn current(&self) -> Option<Arc<PolicySet>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// The last read's problem, while the previous set stays in force.
    pub fn problem(&self) -> Option<String> {
        self.problem.read().ok().and_then(|p| p.clone())
    }

    /// Applies one read: a valid set replaces the current one when it differs; a problem is
    /// kept and reported, the current set staying in force.
    pub fn apply(&self, read: Result<PolicySet, String>) {
        match read {
            Ok(set) => {
                if let Ok(mut p) = self.problem.write() {
                    *p = None;
                }
                let changed = self.current().is_none_or(|c| c.version != set.version);
                if changed {
                    tracing::info!(
                        version = %set.version,
                        policies = set.policies.len(),
                        "token policies loaded"
                    );
                    if let Ok(mut c) = self.current.write() {
                        *c = Some(Arc::new(set));
                    }
                }
            }
            Err(problem) => {
                let kept = self.current().map(|c| c.version.clone());
                tracing::warn!(
                    problem = ?problem,
                    kept = ?kept,
                    "token policies not reloaded; the last valid set stays in force"
                );
                if let Ok(mut p) = self.problem.write() {
                    *p = Some(problem);
                }
            }
        }
    }
}
