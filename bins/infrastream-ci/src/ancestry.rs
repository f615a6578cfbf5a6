//! Reachability without a commit-graph: commits read through one `git cat-file` process and walked newest first, the way git's own merge-base walks.
//!
//! A clone made by `actions/checkout` with `fetch-depth: 0` has the whole history and no
//! commit-graph. Asking git which release tags HEAD reaches (`for-each-ref --merged`) then
//! walks all of HEAD's history, since without generation numbers git cannot stop early. But the
//! base tag is nearly always close below HEAD: checking the highest tags one at a time, each
//! with a walk that stops as soon as the answer is known, reads only the commits newer than the
//! tag.
//!
//! Each check paints down from HEAD and from the tag at once, newest commit first (committer
//! time, a heuristic for order only): a commit reached from both is a common ancestor, and
//! everything below it is stale. The tag is merged when the walk from HEAD reaches it; it is
//! not when only stale commits are left to walk. That answer is exact whatever the commit
//! times say (a skewed clock costs commits read, never a wrong answer). Every commit the walk
//! from HEAD reached is remembered as merged, which settles later tags without a walk.
//!
//! The walks share one budget of commits read; past it the caller asks git instead.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::commit_graph::Oid;

/// What the walk needs of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Commit {
    pub(crate) parents: Vec<Oid>,
    /// The committer time, seconds since the epoch (0 when the header has none).
    pub(crate) time: i64,
}

/// Reads the parents and the committer time from a commit object's headers; `None` when the
/// headers are not a commit's (a parent that is not an object id).
pub(crate) fn parse_commit(object: &[u8]) -> Option<Commit> {
    let mut parents = Vec::new();
    let mut time = 0;
    for line in object.split(|b| *b == b'\n') {
        // The headers end at the first empty line; the message follows.
        if line.is_empty() {
            break;
        }
        if let Some(hex) = line.strip_prefix(b"parent ") {
            parents.push(Oid::from_hex(hex)?);
        } else if let Some(who) = line.strip_prefix(b"committer ") {
            // `Name <email> 1700000000 +0000`: the time follows the last `>`.
            let after = who
                .iter()
                .rposition(|b| *b == b'>')
                .and_then(|at| who.get(at + 1..))
                .unwrap_or_default();
            time = std::str::from_utf8(after)
                .ok()
                .and_then(|s| s.split_ascii_whitespace().next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        }
    }
    Some(Commit { parents, time })
}

/// Where commits come from: a `git cat-file` process, or memory (for tests).
pub(crate) trait Objects {
    /// The commits `ids`, in order; `None` for an object missing or not a commit.
    fn commits(&mut self, ids: &[Oid]) -> Result<Vec<Option<Commit>>, String>;
}

/// The most objects asked for in one round trip: their requests (about 18 KiB) fit in a pipe.
const BATCH: usize = 256;

/// One `git cat-file --batch-command` process, asked for a few objects at a time.
pub(crate) struct CatFile {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    header: Vec<u8>,
    body: Vec<u8>,
}

impl CatFile {
    pub(crate) fn start(repo: &Path) -> Result<CatFile, String> {
        let mut child = Command::new("git")
            .arg("-C")
            .arg(repo)
            // Answers held until a `flush` (git 2.36 and later): one write for a whole batch,
            // where `--batch` writes and wakes this process once per object.
            .args(["cat-file", "--batch-command", "--buffer"])
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            // A partial clone would fetch a missing object from its remote: a missing commit
            // is an answer here (the caller asks git), not a download.
            .env("GIT_NO_LAZY_FETCH", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run git cat-file: {e}"))?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("git cat-file: no pipes".to_string());
        };
        Ok(CatFile {
            child,
            input,
            output: BufReader::with_capacity(64 * 1024, output),
            header: Vec::new(),
            body: Vec::new(),
        })
    }

    /// Reads the answer to one request.
    fn answer(&mut self) -> Result<Option<Commit>, String> {
        let broken = |e: std::io::Error| format!("git cat-file: {e}");
        self.header.clear();
        self.output
            .read_until(b'\n', &mut self.header)
            .map_err(broken)?;
        // `<id> <type> <size>`, or `<id> missing` (or `ambiguous`).
        let mut fields = self.header.trim_ascii_end().split(|b| *b == b' ').skip(1);
        let (Some(kind), Some(size)) = (fields.next(), fields.next()) else {
            return if self.header.is_empty() {
                Err("git cat-file ended early".to_string())
            } else {
                Ok(None)
            };
        };
        let size: u64 = std::str::from_utf8(size)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("git cat-file: bad header {:?}", self.header))?;
        // The object, then a newline.
        self.body.clear();
        (&mut self.output)
            .take(size + 1)
            .read_to_end(&mut self.body)
            .map_err(broken)?;
        if self.body.len() as u64 != size + 1 {
            return Err("git cat-file ended early".to_string());
        }
        Ok((kind == b"commit")
            .then(|| parse_commit(&self.body))
            .flatten())
    }
}

impl Objects for CatFile {
    fn commits(&mut self, ids: &[Oid]) -> Result<Vec<Option<Commit>>, String> {
        // All the requests of a batch, then all the answers: one round trip. A batch's requests
        // (under 75 bytes each) fit in the pipe, so git never waits on its output while this
        // waits to write.
        let broken = |e: std::io::Error| format!("git cat-file: {e}");
        let mut answers = Vec::with_capacity(ids.len());
        for batch in ids.chunks(BATCH) {
            let mut requests = String::with_capacity(batch.len() * 75 + 6);
            for id in batch {
                let _ = writeln!(requests, "contents {id:?}");
            }
            requests.push_str("flush\n");
            self.input.write_all(requests.as_bytes()).map_err(broken)?;
            self.input.flush().map_err(broken)?;
            for _ in batch {
                answers.push(self.answer()?);
            }
        }
        Ok(answers)
    }
}

/// Commits held in memory (the fuzzer's and the tests' history).
#[derive(Debug, Default)]
pub(crate) struct Memory(pub(crate) HashMap<Oid, Commit>);

impl Objects for Memory {
    fn commits(&mut self, ids: &[Oid]) -> Result<Vec<Option<Commit>>, String> {
        Ok(ids.iter().map(|id| self.0.get(id).cloned()).collect())
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        // Closing its input ends git; kill it in case it is stuck writing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Commits that HEAD reaches: painted by the walk from HEAD.
const FROM_HEAD: u8 = 1;
/// Commits the tag reaches.
const FROM_TAG: u8 = 2;
/// Commits below a common ancestor: nothing under them can change the answer.
const STALE: u8 = 4;

/// How many of the commits next in line the walk reads the parents of in one round trip to
/// git. A round trip costs about three times what git spends on a commit; the commits next in
/// line are nearly always walked, so little of what is read ahead is wasted.
const LOOKAHEAD: usize = 16;

/// Walks commits from `Objects` down from one HEAD, caching what it read.
pub(crate) struct Walker<O> {
    objects: O,
    head: Oid,
    /// Every commit read; `None` for an object missing or not a commit.
    commits: HashMap<Oid, Option<Commit>>,
    /// Commits known to be reachable from HEAD.
    merged: HashSet<Oid>,
    /// How many more commits may be read.
    budget: usize,
}

/// Why a walk gave no answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unsettled {
    /// The budget of commits read ran out.
    Budget,
    /// A commit of HEAD's history is missing (a shallow or partial clone).
    Missing,
    /// Git could not be asked.
    Failed(String),
}

impl<O: Objects> Walker<O> {
    pub(crate) fn new(objects: O, head: Oid, budget: usize) -> Walker<O> {
        Walker {
            objects,
            head,
            commits: HashMap::new(),
            merged: HashSet::new(),
            budget,
        }
    }

    /// How many objects the walks read.
    #[cfg(test)]
    pub(crate) fn read(&self) -> usize {
        self.commits.len()
    }

    /// Reads the commits of `ids` not read yet, in one round trip.
    fn read_all(&mut self, ids: &[Oid]) -> Result<(), Unsettled> {
        let mut wanted: Vec<Oid> = Vec::with_capacity(ids.len());
        for id in ids {
            if !self.commits.contains_key(id) && !wanted.contains(id) {
                wanted.push(*id);
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        self.budget = self
            .budget
            .checked_sub(wanted.len())
            .ok_or(Unsettled::Budget)?;
        let read = self.objects.commits(&wanted).map_err(Unsettled::Failed)?;
        self.commits.extend(wanted.into_iter().zip(read));
        Ok(())
    }

    /// The commit time of `id`, reading it when it is not read yet; `None` when it is missing
    /// or not a commit.
    fn time_of(&mut self, id: &Oid) -> Result<Option<i64>, Unsettled> {
        self.read_all(std::slice::from_ref(id))?;
        Ok(self
            .commits
            .get(id)
            .and_then(|c| c.as_ref())
            .map(|c| c.time))
    }

    /// Which of `tags` (commits, highest version first) is the first that HEAD reaches:
    /// `Ok(None)` when none is.
    pub(crate) fn first_merged(&mut self, tags: &[Oid]) -> Result<Option<usize>, Unsettled> {
        let head = self.head;
        if self.time_of(&head)?.is_none() {
            return Err(Unsettled::Missing);
        }
        for (k, tag) in tags.iter().enumerate() {
            if self.is_merged(&head, tag)? {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }

    /// Whether `head` reaches `tag`.
    fn is_merged(&mut self, head: &Oid, tag: &Oid) -> Result<bool, Unsettled> {
        if tag == head || self.merged.contains(tag) {
            return Ok(true);
        }
        // A tag of something other than a commit, or of a commit this repository lacks, is not
        // in HEAD's history (whose commits are all here, or the walk below says Missing).
        let (Some(head_time), Some(tag_time)) = (self.time_of(head)?, self.time_of(tag)?) else {
            return Ok(false);
        };
        let mut paint: HashMap<Oid, u8> = HashMap::from([(*head, FROM_HEAD), (*tag, FROM_TAG)]);
        // Newest last, so the next to walk is the last; ties in id order, so a walk is the same
        // every run.
        let mut queue = BTreeSet::from([(head_time, *head), (tag_time, *tag)]);
        // How many commits in the queue are not stale: the walk ends when none is.
        let mut live = 2usize;
        let mut next = Vec::with_capacity(2 * LOOKAHEAD);
        let answer = loop {
            if live == 0 {
                break false;
            }
            // When the parents of the next commit are not read yet, read them with those of
            // the commits after it, together.
            let unread = |id: &Oid| match self.commits.get(id) {
                Some(Some(c)) => c.parents.iter().any(|p| !self.commits.contains_key(p)),
                _ => false,
            };
            if queue.last().is_some_and(|(_, id)| unread(id)) {
                next.clear();
                for (_, id) in queue.iter().rev().take(LOOKAHEAD) {
                    if let Some(Some(c)) = self.commits.get(id) {
                        next.extend(c.parents.iter().copied());
                    }
                }
                self.read_all(&next)?;
            }
            let Some((_, id)) = queue.pop_last() else {
                break false;
            };
            let mut flags = paint.get(&id).copied().unwrap_or(0);
            if flags & STALE == 0 {
                live -= 1;
            }
            if flags & (FROM_HEAD | FROM_TAG) == FROM_HEAD | FROM_TAG {
                flags |= STALE;
            }
            let parents = match self.commits.get(&id) {
                Some(Some(c)) => c.parents.clone(),
                _ => return Err(Unsettled::Missing),
            };
            let mut reached = false;
            for parent in parents {
                let painted = paint.entry(parent).or_insert(0);
                let before = *painted;
                if before & flags == flags {
                    continue;
                }
                *painted |= flags;
                let after = *painted;
                if parent == *tag && after & FROM_HEAD != 0 {
                    reached = true;
                    break;
                }
                let Some(time) = self.time_of(&parent)? else {
                    // A parent that is not here: history is incomplete.
                    return Err(Unsettled::Missing);
                };
                if queue.insert((time, parent)) {
                    live += usize::from(after & STALE == 0);
                } else if before & STALE == 0 && after & STALE != 0 {
                    // Waiting in the queue, and now stale.
                    live -= 1;
                }
            }
            if reached {
                break true;
            }
        };
        // Whatever the walk from HEAD painted is in HEAD's history, whichever the answer.
        self.merged.extend(
            paint
                .iter()
                .filter(|(_, p)| *p & FROM_HEAD != 0)
                .map(|(id, _)| *id),
        );
        Ok(answer)
    }
}

/// Which of `tags` `head` reaches, by a plain search of every parent: what the walk must
/// answer. `None` when a commit of HEAD's history is missing.
pub(crate) fn first_reached(
    commits: &HashMap<Oid, Commit>,
    head: Oid,
    tags: &[Oid],
) -> Option<Option<usize>> {
    let mut seen = HashSet::from([head]);
    let mut todo = vec![head];
    while let Some(id) = todo.pop() {
        for parent in &commits.get(&id)?.parents {
            if seen.insert(*parent) {
                todo.push(*parent);
            }
        }
    }
    Some(
        tags.iter()
            .position(|t| seen.contains(t) && commits.contains_key(t)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: usize) -> Oid {
        Oid::from_hex(format!("{n:040x}").as_bytes()).unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn a_commit_gives_its_parents_and_committer_time() {
        let object = format!(
            "tree {:?}\nparent {:?}\nparent {:?}\nauthor A <a@x> 1 +0000\n\
             committer C <c@x> 1700000000 -0700\ngpgsig -----BEGIN\n parent {:?}\n\n\
             parent {:?} in the message\n",
            id(9),
            id(1),
            id(2),
            id(3),
            id(4),
        );
        assert_eq!(
            parse_commit(object.as_bytes()),
            Some(Commit {
                parents: vec![id(1), id(2)],
                time: 1_700_000_000
            })
        );
        // No committer: time 0, as git takes it. A parent that is not an id: not a commit.
        assert_eq!(
            parse_commit(b"tree x\n"),
            Some(Commit {
                parents: vec![],
                time: 0
            })
        );
        assert_eq!(parse_commit(b"parent nothex\n"), None);
        // A name holding `>`: the time is after the last one.
        let odd = b"committer A <b> c> <d@x> 42 +0000\n";
        assert_eq!(parse_commit(odd).map(|c| c.time), Some(42));
    }

    /// A random history: commit `n`'s parents are among the commits before it, and its time is
    /// anything (clocks skew), so the walk's order is no guide to the answer.
    fn history() -> impl Strategy<Value = Vec<(Vec<usize>, i64)>> {
        prop::collection::vec(
            (
                prop::collection::vec(any::<prop::sample::Index>(), 0..3),
                0i64..50,
            ),
            1..60,
        )
        .prop_map(|commits| {
            commits
                .into_iter()
                .enumerate()
                .map(|(n, (parents, time))| {
                    let parents = if n == 0 {
                        Vec::new()
                    } else {
                        let mut p: Vec<usize> = parents.iter().map(|i| i.index(n)).collect();
                        p.dedup();
                        p
                    };
                    (parents, time)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn the_walk_answers_as_a_search_of_every_parent(
            commits in history(),
            head in any::<prop::sample::Index>(),
            tags in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let memory: HashMap<Oid, Commit> = commits
                .iter()
                .enumerate()
                .map(|(n, (parents, time))| {
                    (id(n), Commit { parents: parents.iter().map(|p| id(*p)).collect(), time: *time })
                })
                .collect();
            let head = id(head.index(commits.len()));
            // Tags on commits of the history, and one on a commit it lacks.
            let mut tags: Vec<Oid> = tags.iter().map(|t| id(t.index(commits.len()))).collect();
            tags.push(id(10_000));
            let expected = first_reached(&memory, head, &tags);
            let mut walker = Walker::new(Memory(memory), head, usize::MAX);
            prop_assert_eq!(walker.first_merged(&tags).ok(), expected);
        }
    }

    #[test]
    fn a_walk_past_its_budget_or_into_a_missing_commit_does_not_answer() {
        // A chain 0 <- 1 <- ... <- 99, and a side commit 100 on 0 (newer than all).
        let mut memory: HashMap<Oid, Commit> = (0..100)
            .map(|n| {
                (
                    id(n),
                    Commit {
                        parents: if n == 0 { vec![] } else { vec![id(n - 1)] },
                        time: n as i64,
                    },
                )
            })
            .collect();
        memory.insert(
            id(100),
            Commit {
                parents: vec![id(0)],
                time: 1000,
            },
        );
        let head = id(99);
        let mut walker = Walker::new(Memory(memory.clone()), head, 10);
        assert_eq!(
            walker.first_merged(&[id(100), id(0)]),
            Err(Unsettled::Budget)
        );
        let mut walker = Walker::new(Memory(memory.clone()), head, 1_000);
        assert_eq!(walker.first_merged(&[id(100), id(0)]), Ok(Some(1)));
        assert!(walker.read() <= 102, "read {}", walker.read());
        memory.remove(&id(50));
        let mut walker = Walker::new(Memory(memory), head, 1_000);
        assert_eq!(walker.first_merged(&[id(10)]), Err(Unsettled::Missing));
    }

    #[test]
    fn a_cycle_which_git_cannot_make_still_ends_the_walk() {
        // 0 -> 2 -> 5 -> 3 -> 4 -> {1, 2}, 1 -> 4: found by the fuzzer (a history git cannot
        // hold, since an id hashes the parents' ids); the walk must end, whatever it answers.
        let edges: [(usize, &[usize], i64); 6] = [
            (0, &[2], 0),
            (1, &[4], 200),
            (2, &[5], 95),
            (3, &[4], 200),
            (4, &[1, 2], 100),
            (5, &[3], 90),
        ];
        let memory = edges
            .iter()
            .map(|(n, parents, time)| {
                let parents = parents.iter().map(|p| id(*p)).collect();
                (
                    id(*n),
                    Commit {
                        parents,
                        time: *time,
                    },
                )
            })
            .collect();
        let mut walker = Walker::new(Memory(memory), id(0), 1_000);
        assert!(walker.first_merged(&[id(1), id(2), id(3)]).is_ok());
    }
}
