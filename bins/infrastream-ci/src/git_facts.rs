//! What `compute-version` needs from a real repository, read without a git process where the
//! files allow it.
//!
//! The shell pipeline this replaces asks git for every `v*` tag merged into HEAD, which walks
//! all of HEAD's history, then sorts and filters. Here HEAD, shallowness and the tags are read
//! from the `.git` directory of a plain checkout (`HEAD`, `packed-refs` with its peeled values,
//! as a clone leaves them), and the release tags sorted by version from highest. Which is the
//! first one HEAD reaches is answered by git's commit-graph file where there is one
//! (`commit_graph`), else by a walk down from HEAD that stops as soon as it knows (`ancestry`,
//! commits read through one `git cat-file` process). Whatever the files cannot say (loose tags,
//! a worktree, reftable, replace refs, grafts) or the walk cannot settle cheaply is asked of
//! git: `for-each-ref` for the tags, `for-each-ref --merged` for the ones HEAD reaches.

use std::path::Path;
use std::process::Command;

use crate::ancestry::{CatFile, Commit, Objects, Walker};
use crate::commit_graph::{Graph, Oid};

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

/// Tags and HEAD from `for-each-ref` (peeling annotated tags, which reads each tag object), and
/// whether every tag peeled to a commit or a non-tag object (older git peels a tag of a tag
/// one level only, to a tag: then only git can say what it reaches).
fn listed(repo: &Path, head_ref: &str) -> Result<Refs, String> {
    let mut args = vec![
        "for-each-ref",
        "--format=%(refname)%00%(objectname)%00%(*objectname)%00%(*objecttype)",
        "refs/tags",
    ];
    if !head_ref.starts_with("commit:") {
        args.push(head_ref);
    }
    let out = git(repo, &args)?;
    if !out.status.success() {
        return Err(format!(
            "{}: not a git repository with a commit ({})",
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut head = head_ref
        .strip_prefix("commit:")
        .unwrap_or_default()
        .to_string();
    let mut tags = Vec::new();
    let mut peeled_fully = true;
    for line in text(&out).lines() {
        let mut fields = line.split('\0');
        let (Some(refname), Some(object), peeled) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        peeled_fully &= fields.next() != Some("tag");
        // An annotated tag's commit is its peeled object.
        let commit = peeled.filter(|p| !p.is_empty()).unwrap_or(object);
        match refname.strip_prefix("refs/tags/") {
            Some(name) => {
                if let Some(id) = Oid::from_hex(commit.as_bytes()) {
                    tags.push((name.to_string(), id));
                }
            }
            None if refname == head_ref => head = commit.to_string(),
            None => {}
        }
    }
    Ok(Refs {
        tags,
        head,
        peeled_fully,
    })
}

/// The tags with their commits, HEAD's commit, and whether every tag was peeled to its end.
#[derive(Debug)]
struct Refs {
    tags: Vec<(String, Oid)>,
    head: String,
    peeled_fully: bool,
}

/// What `packed-refs` holds, read line by line through one buffer (a repository's file can
/// be large, and CI reads it on every build).
#[derive(Debug, Default)]
pub(crate) struct PackedRefs {
    /// Whether the file records the peeled commit of every annotated tag.
    fully_peeled: bool,
    /// Each tag and its commit (peeled).
    tags: Vec<(String, Oid)>,
    /// The packed value of the ref HEAD points at.
    head: Option<String>,
    /// Whether it packs replace refs (which rewrite history).
    replace: bool,
}

fn read_packed_refs(git_dir: &Path, head_ref: &str) -> Option<PackedRefs> {
    let file = std::fs::File::open(git_dir.join("packed-refs")).ok()?;
    parse_packed_refs(std::io::BufReader::with_capacity(64 * 1024, file), head_ref)
}

/// Parses a `packed-refs` file; `None` when a line is not as git writes them.
pub(crate) fn parse_packed_refs(
    mut reader: impl std::io::BufRead,
    head_ref: &str,
) -> Option<PackedRefs> {
    let mut packed = PackedRefs::default();
    let mut line = Vec::new();
    let mut last_was_tag = false;
    let mut first = true;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).ok()? == 0 {
            break;
        }
        let line = line.trim_ascii_end();
        if std::mem::take(&mut first) && line.starts_with(b"#") {
            packed.fully_peeled = line.windows(12).any(|w| w == b"fully-peeled");
            continue;
        }
        if let Some(peeled) = line.strip_prefix(b"^") {
            if last_was_tag && let Some(t) = packed.tags.last_mut() {
                t.1 = Oid::from_hex(peeled)?;
            }
            continue;
        }
        let space = line.iter().position(|b| *b == b' ')?;
        let (sha, name) = (line.get(..space)?, line.get(space + 1..)?);
        last_was_tag = false;
        if let Some(tag) = name.strip_prefix(b"refs/tags/") {
            let tag = String::from_utf8_lossy(tag).into_owned();
            packed.tags.push((tag, Oid::from_hex(sha)?));
            last_was_tag = true;
        } else if name == head_ref.as_bytes() {
            packed.head = Some(String::from_utf8_lossy(sha).into_owned());
        } else if name.starts_with(b"refs/replace/") {
            packed.replace = true;
        }
    }
    Some(packed)
}

/// Tags and HEAD read from the files, without a process: when every tag is in `packed-refs`
/// and the file records peeled values (as a clone leaves it). `None` otherwise.
fn packed(git_dir: &Path, packed_refs: Option<&mut PackedRefs>, head_ref: &str) -> Option<Refs> {
    // A loose tag may be annotated, and peeling it means reading the object: let git do it.
    let loose_tags = std::fs::read_dir(git_dir.join("refs/tags"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    let packed_refs = packed_refs?;
    if loose_tags || !packed_refs.fully_peeled {
        return None;
    }
    let head = match head_ref.strip_prefix("commit:") {
        Some(sha) => sha.to_string(),
        // A branch moved since the pack is a loose file that wins over the packed entry.
        None => match std::fs::read_to_string(git_dir.join(head_ref)) {
            Ok(sha) => sha.trim().to_string(),
            Err(_) => packed_refs.head.clone()?,
        },
    };
    // A symbolic branch ref (`ref: ...`) or anything else odd: let git resolve it.
    let hex = head.bytes().all(|b| b.is_ascii_hexdigit());
    if !(hex && (head.len() == 40 || head.len() == 64)) {
        return None;
    }
    Some(Refs {
        tags: std::mem::take(&mut packed_refs.tags),
        head,
        peeled_fully: true,
    })
}

/// How many commits the walk without a commit-graph reads before git is asked alongside. A
/// commit read costs about 11 µs, twice what git spends on one in its own walk of all of
/// HEAD's history: most walks settle well within this (a push to git/git's master reads about
/// 120 commits), and one that does not costs about 10 ms more than git's answer alone.
const HEAD_START: usize = 1_000;

/// The most commits the walk reads: git's answer is awaited past it.
const WALK_BUDGET: usize = 50_000;

/// Whether history is as the commit-graph recorded it: no replace refs, no grafts.
fn graph_is_trusted(git_dir: &Path, packed_refs: Option<&PackedRefs>) -> bool {
    let replace_dir = std::fs::read_dir(git_dir.join("refs/replace"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    let replace_packed = packed_refs.is_some_and(|p| p.replace);
    let grafts = git_dir.join("info/grafts").exists();
    !(replace_dir || replace_packed || grafts)
}

/// The git directory of a plain checkout.
fn repo_git_dir(repo: &Path) -> Option<std::path::PathBuf> {
    let d = repo.join(".git");
    d.is_dir().then_some(d)
}

/// What `.git/HEAD` says, read without a process: a ref to resolve, or a commit (detached).
/// `None` when `repo` is not a plain checkout (a worktree, a submodule, a subdirectory).
fn head_file(repo: &Path) -> Option<(String, bool)> {
    let git_dir = repo.join(".git");
    // Not a plain checkout, or refs in a reftable: let git resolve HEAD.
    if !git_dir.is_dir() || git_dir.join("reftable").exists() {
        return None;
    }
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let shallow = git_dir.join("shallow").exists();
    // Git accepts `ref:` with or without spaces; anything but a ref or a commit id is left
    // to git to judge.
    match head.strip_prefix("ref:") {
        Some(r) => Some((r.trim_start().to_string(), shallow)),
        None if Oid::from_hex(head.as_bytes()).is_some() => {
            Some((format!("commit:{head}"), shallow))
        }
        None => None,
    }
}

/// Reads the tags of `repo` around its HEAD: from the files in a freshly cloned checkout,
/// else with a git process or two (see the module's documentation).
pub(crate) fn read(repo: &Path, allow_shallow: bool) -> Result<Facts, String> {
    let (head_ref, shallow) = match head_file(repo) {
        Some(h) => h,
        None => {
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
            (
                format!("commit:{}", lines.next().unwrap_or_default().trim()),
                shallow,
            )
        }
    };
    if shallow && !allow_shallow {
        return Err(format!(
            "{} is a shallow clone: its tags and history are incomplete, so the version could be \
             wrong. Fetch the whole history (actions/checkout with `fetch-depth: 0`), or pass \
             --allow-shallow to accept it",
            repo.display()
        ));
    }
    let git_dir = repo_git_dir(repo);
    // Read once: it lists the tags and tells whether replace refs rewrite history.
    let mut packed_refs = git_dir
        .as_ref()
        .and_then(|d| read_packed_refs(d, &head_ref));
    // `packed-refs` records fully peeled tags; `listed` says whether git peeled them fully.
    let Refs {
        tags,
        head,
        peeled_fully,
    } = match git_dir
        .as_ref()
        .and_then(|d| packed(d, packed_refs.as_mut(), &head_ref))
    {
        Some(refs) => refs,
        None => listed(repo, &head_ref)?,
    };
    if head.is_empty() {
        return Err(format!(
            "{}: not a git repository with a commit (HEAD is unborn)",
            repo.display()
        ));
    }
    let head_id = Oid::from_hex(head.as_bytes())
        .ok_or_else(|| format!("{}: HEAD is not a commit id: {head}", repo.display()))?;
    let head_tags = tags
        .iter()
        .filter(|(_, c)| *c == head_id)
        .map(|(n, _)| n.clone())
        .collect();
    // Release versions have no pre-release or build part: numbers order them.
    let mut releases: Vec<((u64, u64, u64), &str, Oid)> = tags
        .iter()
        .filter_map(|(n, c)| {
            let v = cd_core::version::release_version(n)?;
            Some(((v.major, v.minor, v.patch), n.as_str(), *c))
        })
        .collect();
    releases.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    // With a commit-graph that holds HEAD, the graph answers. Git itself ignores the graph
    // when replace refs, grafts or a shallow boundary rewrite the history, and so does this.
    let trusted = git_dir
        .as_ref()
        .is_some_and(|d| graph_is_trusted(d, packed_refs.as_ref()));
    let in_process = git_dir.filter(|_| trusted && peeled_fully && !shallow);
    let commits: Vec<Oid> = releases.iter().map(|(_, _, c)| *c).collect();
    let graph = in_process.as_ref().and_then(|d| Graph::open(d));
    let mut first = graph.and_then(|mut g| g.first_merged(&head_id, &commits));
    // No commit-graph (a fresh clone): walk the commits newest first, read through one git
    // process. When the walk does not settle quickly, git is asked alongside (its walk of all
    // of HEAD's history is what the walk here usually avoids), and whichever answers first wins.
    let mut asked = None;
    if first.is_none() && in_process.is_some() {
        let mut racing = Racing {
            objects: CatFile::start(repo).ok(),
            read: 0,
            git: None,
            repo,
            head: &head,
        };
        first = Walker::new(&mut racing, head_id, WALK_BUDGET)
            .first_merged(&commits)
            .ok();
        asked = racing.git.take();
    }
    if let Some(first) = first {
        return Ok(Facts {
            base: first
                .and_then(|k| releases.get(k))
                .map(|(_, n, _)| (*n).to_string()),
            head_tags,
            all_tags: tags.into_iter().map(|(n, _)| n).collect(),
            head,
        });
    }
    // Otherwise git answers: one walk of HEAD's history for every tag at once (its cost is the
    // walk, not the number of tags asked about).
    let merged = match asked {
        Some(asked) => asked.answer()?,
        None => MergedTags::ask(repo, &head)?.answer()?,
    };
    let base = releases
        .iter()
        .find(|(_, n, _)| merged.contains(*n))
        .map(|(_, n, _)| (*n).to_string());
    Ok(Facts {
        base,
        head_tags,
        all_tags: tags.into_iter().map(|(n, _)| n).collect(),
        head,
    })
}

/// The commits the walk reads, until git, asked alongside once the walk has read
/// `HEAD_START` commits, has answered.
struct Racing<'a> {
    objects: Option<CatFile>,
    read: usize,
    git: Option<MergedTags>,
    repo: &'a Path,
    head: &'a str,
}

impl Objects for &mut Racing<'_> {
    fn commits(&mut self, ids: &[Oid]) -> Result<Vec<Option<Commit>>, String> {
        self.read += ids.len();
        if self.git.is_none() && self.read > HEAD_START {
            self.git = Some(MergedTags::ask(self.repo, self.head)?);
        }
        if self.git.as_mut().is_some_and(MergedTags::answered) {
            return Err("git answered first".to_string());
        }
        match self.objects.as_mut() {
            Some(objects) => objects.commits(ids),
            None => Err("git cat-file did not start".to_string()),
        }
    }
}

/// `git for-each-ref --merged` asked which tags `head` reaches, running until its answer is
/// read (or killed when it is not wanted).
struct MergedTags {
    child: Option<std::process::Child>,
}

impl MergedTags {
    fn ask(repo: &Path, head: &str) -> Result<MergedTags, String> {
        let child = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["for-each-ref", "--format=%(refname:strip=2)"])
            .arg(format!("--merged={head}"))
            .arg("refs/tags")
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run git: {e}"))?;
        Ok(MergedTags { child: Some(child) })
    }

    /// Whether git has answered: finished well, its answer waiting in the pipe. (A failure is
    /// not an answer: the walk goes on. An answer too large for the pipe, tens of thousands of
    /// tags, keeps git waiting until it is read, after the walk gives up.)
    fn answered(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(Some(status)) if status.success()))
    }

    fn answer(mut self) -> Result<std::collections::HashSet<String>, String> {
        let Some(child) = self.child.take() else {
            return Err("git for-each-ref --merged: asked twice".to_string());
        };
        let out = child
            .wait_with_output()
            .map_err(|e| format!("git for-each-ref --merged: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "git for-each-ref --merged: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(text(&out).lines().map(str::to_string).collect())
    }
}

impl Drop for MergedTags {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The full messages of the commits after `base` up to `tip` (all of them without a base).
pub(crate) fn messages_between(
    repo: &Path,
    base: Option<&str>,
    tip: &str,
) -> Result<Vec<String>, String> {
    // A tip that does not exist (HEAD^1 of a root commit) has no messages.
    let exists = git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{tip}^{{commit}}"),
        ],
    )?;
    if !exists.status.success() {
        return Ok(Vec::new());
    }
    let range = match base {
        Some(b) => format!("{b}..{tip}"),
        None => tip.to_string(),
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
