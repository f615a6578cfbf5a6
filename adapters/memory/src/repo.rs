//! `ManifestRepo` in memory: files and a linear history of commits, with the real editor.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cd_core::manifest::{Selector, set_version};
use cd_core::pipeline::{ManifestCommit, ManifestEdit, Promotion};
use cd_ports::{ManifestRepo, RepoError};
use sha2::{Digest, Sha256};

use crate::journal::Journal;

/// One commit of the in-memory history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitRecord {
    /// Its id (a hash of parent, message and changes).
    pub id: String,
    /// Its message.
    pub message: String,
    /// Paths it changed.
    pub changed: Vec<String>,
    /// Every file after it.
    pub files: BTreeMap<String, String>,
    /// True for commits written through the port (the CD engine), false for others.
    pub by_engine: bool,
    /// Journal sequence number.
    pub seq: u64,
}

#[derive(Debug, Default)]
struct RepoState {
    commits: Vec<CommitRecord>,
    /// Writes that will find another writer's commit landing first.
    races: u32,
    /// How many races writes lost.
    races_lost: u32,
}

/// A manifest repository in memory.
#[derive(Debug, Default)]
pub struct MemoryRepo {
    state: Mutex<RepoState>,
    journal: Arc<Journal>,
}

/// How many times one write re-applies its edits after losing a push race.
const PUSH_ATTEMPTS: u32 = 5;

fn commit_id(parent: &str, message: &str, changed: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    h.update(message.as_bytes());
    for (path, text) in changed {
        h.update(path.as_bytes());
        h.update(text.as_bytes());
    }
    hex::encode(h.finalize()).chars().take(12).collect()
}

impl MemoryRepo {
    /// A repository whose first commit holds `files`.
    #[must_use]
    pub fn new(files: impl IntoIterator<Item = (String, String)>) -> Self {
        Self::with_journal(files, Arc::default())
    }

    /// Like [`MemoryRepo::new`], numbering commits from a shared journal.
    #[must_use]
    pub fn with_journal(
        files: impl IntoIterator<Item = (String, String)>,
        journal: Arc<Journal>,
    ) -> Self {
        let files: BTreeMap<String, String> = files.into_iter().collect();
        let changed: Vec<(String, String)> = files.clone().into_iter().collect();
        let first = CommitRecord {
            id: commit_id("", "initial", &changed),
            message: "initial".into(),
            changed: files.keys().cloned().collect(),
            files,
            by_engine: false,
            seq: journal.next(),
        };
        MemoryRepo {
            state: Mutex::new(RepoState {
                commits: vec![first],
                ..RepoState::default()
            }),
            journal,
        }
    }

    /// Every commit, oldest first.
    #[must_use]
    pub fn commits(&self) -> Vec<CommitRecord> {
        self.state
            .lock()
            .map(|s| s.commits.clone())
            .unwrap_or_default()
    }

    /// How many commits the branch holds: a head that has not moved has the same count.
    #[must_use]
    pub fn commit_count(&self) -> usize {
        self.state
            .lock()
            .map(|s| s.commits.len())
            .unwrap_or_default()
    }

    /// Every file at the head.
    #[must_use]
    pub fn files(&self) -> BTreeMap<String, String> {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.commits.last().map(|c| c.files.clone()))
            .unwrap_or_default()
    }

    /// Commits `text` to `path` as another writer (a human, another tool).
    pub fn commit_foreign(&self, path: &str, text: &str, message: &str) {
        if let Ok(mut s) = self.state.lock() {
            let seq = self.journal.next();
            push_foreign(&mut s, path, text, message, seq);
        }
    }

    /// The next `n` writes lose a push race: another writer's commit lands first.
    pub fn lose_races(&self, n: u32) {
        if let Ok(mut s) = self.state.lock() {
            s.races += n;
        }
    }

    /// How many push races writes lost (and recovered from) so far.
    #[must_use]
    pub fn races_lost(&self) -> u32 {
        self.state.lock().map(|s| s.races_lost).unwrap_or_default()
    }
}

fn push_foreign(s: &mut RepoState, path: &str, text: &str, message: &str, seq: u64) {
    let Some(head) = s.commits.last() else { return };
    let mut files = head.files.clone();
    files.insert(path.to_string(), text.to_string());
    let id = commit_id(&head.id, message, &[(path.to_string(), text.to_string())]);
    s.commits.push(CommitRecord {
        id,
        message: message.to_string(),
        changed: vec![path.to_string()],
        files,
        by_engine: false,
        seq,
    });
}

fn lock(m: &Mutex<RepoState>) -> Result<std::sync::MutexGuard<'_, RepoState>, RepoError> {
    m.lock()
        .map_err(|_| RepoError::Unavailable("repository lock poisoned".into()))
}

#[async_trait]
impl ManifestRepo for MemoryRepo {
    async fn read(&self) -> Result<(String, Vec<(String, String)>), RepoError> {
        let s = lock(&self.state)?;
        let head = s
            .commits
            .last()
            .ok_or(RepoError::NotFound("no commits".into()))?;
        let files = head
            .files
            .iter()
            .filter(|(p, _)| p.ends_with(".yaml") || p.ends_with(".yml"))
            .map(|(p, t)| (p.clone(), t.clone()))
            .collect();
        Ok((head.id.clone(), files))
    }

    async fn write(
        &self,
        edits: &[ManifestEdit],
        commit: &ManifestCommit,
    ) -> Result<Option<String>, RepoError> {
        let message = commit.message.as_str();
        let mut s = lock(&self.state)?;
        if let Some(promotion) = &commit.promotion
            && let Some(c) = s
                .commits
                .iter()
                .find(|c| Promotion::parse(&c.message).as_ref() == Some(promotion))
        {
            return Ok(Some(c.id.clone()));
        }
        for _ in 0..PUSH_ATTEMPTS {
            let head = s
                .commits
                .last()
                .ok_or(RepoError::NotFound("no commits".into()))?
                .clone();
            let mut files = head.files.clone();
            let mut changed = Vec::new();
            for e in edits {
                let text = files
                    .get(&e.path)
                    .ok_or_else(|| RepoError::Invalid(format!("{}: no such file", e.path)))?;
                let selector = Selector::Named {
                    application: &e.application,
                    environment: &e.environment,
                };
                let edited = set_version(text, selector, &e.version)
                    .map_err(|err| RepoError::Invalid(format!("{}: {err}", e.path)))?;
                if edited != *text {
                    changed.push((e.path.clone(), edited.clone()));
                    files.insert(e.path.clone(), edited);
                }
            }
            if changed.is_empty() {
                return Ok(None);
            }
            if s.races > 0 {
                // Another writer pushes first; our push is refused and we start again on the
                // new head, keeping their commit.
                s.races -= 1;
                s.races_lost += 1;
                let n = s.races_lost;
                let seq = self.journal.next();
                push_foreign(
                    &mut s,
                    &format!("notes/race-{n}.txt"),
                    "another writer",
                    "docs: another writer",
                    seq,
                );
                continue;
            }
            let id = commit_id(&head.id, message, &changed);
            s.commits.push(CommitRecord {
                id: id.clone(),
                message: message.to_string(),
                changed: changed.into_iter().map(|(p, _)| p).collect(),
                files,
                by_engine: true,
                seq: self.journal.next(),
            });
            return Ok(Some(id));
        }
        Err(RepoError::Conflict(format!(
            "lost {PUSH_ATTEMPTS} push races in a row"
        )))
    }

    async fn changed_files(&self, commit: &str) -> Result<Vec<String>, RepoError> {
        let s = lock(&self.state)?;
        s.commits
            .iter()
            .find(|c| c.id == commit)
            .map(|c| c.changed.clone())
            .ok_or_else(|| RepoError::NotFound(commit.to_string()))
    }

    async fn message(&self, commit: &str) -> Result<String, RepoError> {
        let s = lock(&self.state)?;
        s.commits
            .iter()
            .find(|c| c.id == commit)
            .map(|c| c.message.clone())
            .ok_or_else(|| RepoError::NotFound(commit.to_string()))
    }

    async fn commits_since(&self, since: Option<&str>) -> Result<Vec<String>, RepoError> {
        let s = lock(&self.state)?;
        let start = match since {
            None => 0,
            Some(id) => {
                s.commits
                    .iter()
                    .position(|c| c.id == id)
                    .ok_or_else(|| RepoError::NotFound(id.to_string()))?
                    + 1
            }
        };
        Ok(s.commits.iter().skip(start).map(|c| c.id.clone()).collect())
    }

    async fn reachable(&self) -> Result<(), RepoError> {
        lock(&self.state).map(|_| ())
    }
}
