//! What `compute-version` needs from a real repository, read with few git processes.
//!
//! The shell pipeline this replaces asks git for every `v*` tag merged into HEAD, which walks
//! the reachability of each of them, then sorts and filters. Here the tags are read once
//! (`for-each-ref`, no graph walk), the release tags sorted by version from highest, and only
//! as many of them checked for ancestry (`merge-base --is-ancestor`, which uses the
//! commit-graph's generation numbers when the repository has one) as it takes to find the first
//! merged one: usually one.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The tags around HEAD.
#[derive(Debug)]
pub(crate) struct Facts {
    /// The highest `vX.Y.Z` tag merged into HEAD.
    pub(crate) base: Option<String>,
    /// Tags pointing at HEAD.
    pub(crate) head_tags: Vec<String>,
    /// Every tag.
    pub(crate) all_tags: Vec<String>,
    /// HEAD's commit.
    pub(crate) head: String,
}

pub(crate) fn git(repo: &Path, args: &[&str]) -> Result<std::process::Output, String> {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `vX.Y.Z` exactly (what the pipeline's `grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$'` keeps).
pub(crate) fn release_version(tag: &str) -> Option<semver::Version> {
    let rest = tag.strip_prefix('v')?;
    let parts: Vec<&str> = rest.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let n = |i: usize| parts.get(i).and_then(|p| p.parse::<u64>().ok());
    Some(semver::Version::new(n(0)?, n(1)?, n(2)?))
}

/// Reads the tags of `repo` around its HEAD.
pub(crate) fn read(repo: &Path, allow_shallow: bool) -> Result<Facts, String> {
    let out = git(repo, &["rev-parse", "--is-shallow-repository", "HEAD"])?;
    if !out.status.success() {
        return Err(format!(
            "{}: not a git repository with a commit ({})",
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let answer = text(&out);
    let mut lines = answer.lines();
    let shallow = lines.next() == Some("true");
    let head = lines.next().unwrap_or_default().trim().to_string();
    if shallow && !allow_shallow {
        return Err(format!(
            "{} is a shallow clone: its tags and history are incomplete, so the version could be \
             wrong. Fetch the whole history (actions/checkout with `fetch-depth: 0`), or pass \
             --allow-shallow to accept it",
            repo.display()
        ));
    }
    let out = git(
        repo,
        &[
            "for-each-ref",
            "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)",
            "refs/tags",
        ],
    )?;
    if !out.status.success() {
        return Err(format!(
            "git for-each-ref: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut all_tags = Vec::new();
    let mut head_tags = Vec::new();
    let mut releases = Vec::new();
    for line in text(&out).lines() {
        let mut fields = line.split('\0');
        let (Some(name), Some(object), peeled) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        // An annotated tag's commit is its peeled object.
        let commit = peeled
            .filter(|p| !p.is_empty())
            .unwrap_or(object)
            .to_string();
        if commit == head {
            head_tags.push(name.to_string());
        }
        if let Some(v) = release_version(name) {
            releases.push((v, name.to_string(), commit));
        }
        all_tags.push(name.to_string());
    }
    releases.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut merged: BTreeMap<String, bool> = BTreeMap::new();
    let mut base = None;
    for (_, name, commit) in releases {
        let is_merged = match merged.get(&commit) {
            Some(m) => *m,
            None => {
                let m = commit == head || ancestor(repo, &commit, &head)?;
                merged.insert(commit.clone(), m);
                m
            }
        };
        if is_merged {
            base = Some(name);
            break;
        }
    }
    Ok(Facts {
        base,
        head_tags,
        all_tags,
        head,
    })
}

fn ancestor(repo: &Path, commit: &str, head: &str) -> Result<bool, String> {
    let out = git(repo, &["merge-base", "--is-ancestor", commit, head])?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(format!(
            "git merge-base: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The full messages of the commits after `base` up to HEAD (all of them without a base).
pub(crate) fn messages_since(repo: &Path, base: Option<&str>) -> Result<Vec<String>, String> {
    let range = match base {
        Some(b) => format!("{b}..HEAD"),
        None => "HEAD".to_string(),
    };
    let out = git(repo, &["log", "--format=%B%x00", &range])?;
    if !out.status.success() {
        return Err(format!(
            "git log: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(text(&out)
        .split('\0')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect())
}
