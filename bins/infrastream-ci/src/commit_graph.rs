//! Reachability from git's commit-graph file, read in-process, where asking git costs a
//! history walk per tag. Used when the repository has a single (non-split) commit-graph that
//! contains HEAD; anything unexpected returns `None` and the caller asks git instead. Format:
//! git's `gitformat-commit-graph` documentation.
//!
//! The question is "which is the first of these tags (highest version first) that HEAD
//! reaches?", and most tags are settled without reading the whole file:
//!
//! 1. a tag on HEAD is merged; a tag whose commit is not in the graph is not (the graph holds
//!    all of HEAD's history);
//! 2. a tag of a higher topological level than HEAD is not merged (a commit's level exceeds its
//!    parents');
//! 3. a search down from HEAD, only through commits of a level at least the tag's, finds it
//!    within a small budget when it is close below HEAD, the usual case of a base tag (a tag
//!    more levels below HEAD than the budget is not searched for);
//! 4. a tag no commit has as a parent (the tip of a branch never merged) is not merged: one
//!    pass over the commit data marks every parent, for this tag and all the later ones;
//! 5. otherwise everything HEAD reaches is marked in one walk, and that answers the rest.
//!
//! Object ids are read a fan-out bucket at a time and commit records a block at a time, only
//! where looked up; the passes of 4 and 5 stream the commit data through one buffer, and the
//! walk of 5 keeps only the parents (8 bytes a commit instead of 36 or 48).

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

const NO_PARENT: u32 = 0x7000_0000;
const EXTRA_EDGES: u32 = 0x8000_0000;
const LAST_EDGE: u32 = 0x8000_0000;
/// The most chunks a table may list (git writes at most nine).
const MAX_CHUNKS: usize = 64;
/// Commit records a looked-up block holds (positions follow object ids, so neighbours in a
/// block are unrelated commits: small blocks).
const BLOCK_RECORDS: usize = 16;
/// How many commits the search of step 3 may visit for one tag: a read each, roughly, where
/// the passes of steps 4 and 5 cost about as much as a few hundred.
const SEARCH_BUDGET: usize = 32;

/// A commit-graph file, opened for lookups.
#[derive(Debug)]
pub(crate) struct Graph {
    file: Box<dyn Source>,
    records: Records,
    /// The 256 cumulative counts of the fan-out table.
    fanout: Vec<u32>,
    oid_lookup: u64,
    /// Object ids of the fan-out buckets read so far, by first byte.
    buckets: Vec<Option<Vec<u8>>>,
    /// Commit-data blocks read so far, by block number.
    blocks: HashMap<usize, Vec<u8>>,
    /// Whether levels are used at all (they are, but for tests). A level of 0 means "not
    /// computed" (writers before git 2.18) and never prunes anything.
    levels: bool,
    /// The visits step 3 may make for one tag.
    budget: usize,
}

/// Where the commit records are and how to read their parents: what a pass over them needs.
#[derive(Clone, Debug)]
struct Records {
    count: usize,
    hash_len: usize,
    /// Where the commit data chunk starts.
    start: u64,
    /// The extra-edge list of octopus merges.
    edges: Vec<u32>,
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn be64(data: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = data.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// A commit id, SHA-1 (20 bytes) or SHA-256 (32), kept inline: repositories have thousands
/// of tags, and CI reads them all on every build.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Oid {
    bytes: [u8; 32],
    len: u8,
}

impl Oid {
    /// The id written in hex (40 or 64 digits, either case).
    pub(crate) fn from_hex(hex: &[u8]) -> Option<Oid> {
        if hex.len() != 40 && hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: &u8| char::from(*c).to_digit(16);
            let (high, low) = (digit(pair.first()?)?, digit(pair.get(1)?)?);
            *byte = u8::try_from(high << 4 | low).ok()?;
        }
        Some(Oid {
            bytes,
            len: u8::try_from(hex.len() / 2).ok()?,
        })
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl std::fmt::Debug for Oid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_bytes()
            .iter()
            .try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Where a graph's bytes come from: its file, or memory (for the fuzzer).
pub(crate) trait Source: std::fmt::Debug {
    /// The length in bytes.
    fn len(&self) -> Option<u64>;
    /// Fills `buf` from `offset`; `None` when that is past the end or the read fails.
    fn fill_at(&self, buf: &mut [u8], offset: u64) -> Option<()>;
}

impl Source for File {
    fn len(&self) -> Option<u64> {
        Some(self.metadata().ok()?.len())
    }

    /// One `pread` where there is one (lookups are scattered).
    fn fill_at(&self, buf: &mut [u8], offset: u64) -> Option<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_exact_at(self, buf, offset).ok()
        }
        #[cfg(not(unix))]
        {
            use std::io::{Read as _, Seek as _};
            let mut file = self;
            file.seek(std::io::SeekFrom::Start(offset)).ok()?;
            file.read_exact(buf).ok()
        }
    }
}

impl Source for Vec<u8> {
    fn len(&self) -> Option<u64> {
        u64::try_from(self.as_slice().len()).ok()
    }

    fn fill_at(&self, buf: &mut [u8], offset: u64) -> Option<()> {
        let start = usize::try_from(offset).ok()?;
        buf.copy_from_slice(self.get(start..start.checked_add(buf.len())?)?);
        Some(())
    }
}

fn read_at(file: &dyn Source, offset: u64, len: usize) -> Option<Vec<u8>> {
    // Never more than the source holds (a damaged table must not make a huge allocation).
    if u64::try_from(len).ok()?.checked_add(offset)? > file.len()? {
        return None;
    }
    let mut buf = vec![0; len];
    file.fill_at(&mut buf, offset)?;
    Some(buf)
}

/// Where each chunk the searches need starts and ends.
struct Chunks {
    fanout: u64,
    oid_lookup: (u64, u64),
    commit_data: (u64, u64),
    extra_edges: Option<(u64, u64)>,
}

/// Reads the header and the chunk table: the hash length and the chunks.
fn table(file: &dyn Source) -> Option<(usize, Chunks)> {
    let len = file.len()?;
    let header = read_at(file, 0, 8)?;
    if header.get(0..4)? != b"CGPH" || *header.get(4)? != 1 {
        return None;
    }
    let hash_len = match *header.get(5)? {
        1 => 20,
        2 => 32,
        _ => return None,
    };
    let chunks = usize::from(*header.get(6)?);
    // Base graphs mean a split chain: not handled here.
    if *header.get(7)? != 0 || chunks > MAX_CHUNKS {
        return None;
    }
    // The table lists each chunk's start, then a terminating entry: a chunk ends where the
    // next one in the file starts.
    let entries = read_at(file, 8, (chunks + 1) * 12)?;
    let mut starts = Vec::with_capacity(chunks + 1);
    for i in 0..=chunks {
        let offset = be64(&entries, i * 12 + 4)?;
        if offset > len {
            return None;
        }
        starts.push((entries.get(i * 12..i * 12 + 4)?, offset));
    }
    let span = |want: &[u8]| -> Option<(u64, u64)> {
        let start = starts.iter().find(|(id, _)| *id == want)?.1;
        let end = starts
            .iter()
            .map(|(_, o)| *o)
            .filter(|o| *o > start)
            .min()
            .unwrap_or(start);
        Some((start, end))
    };
    Some((
        hash_len,
        Chunks {
            fanout: span(b"OIDF")?.0,
            oid_lookup: span(b"OIDL")?,
            commit_data: span(b"CDAT")?,
            extra_edges: span(b"EDGE"),
        },
    ))
}

/// One commit's record: its two parent words and its topological level.
#[derive(Clone, Copy, Debug)]
struct Record {
    parents: [u32; 2],
    level: u32,
}

fn record_of(entry: &[u8], hash_len: usize) -> Option<Record> {
    Some(Record {
        parents: [be32(entry, hash_len)?, be32(entry, hash_len + 4)?],
        // The top 30 bits of the last eight bytes.
        level: be32(entry, hash_len + 8)? >> 2,
    })
}

impl Graph {
    /// The commit-graph of the repository whose git directory is `git_dir`, if it has a single
    /// well-formed one.
    pub(crate) fn open(git_dir: &Path) -> Option<Graph> {
        let file = File::open(git_dir.join("objects/info/commit-graph")).ok()?;
        Graph::read(Box::new(file))
    }

    /// A graph read from `file`, if well-formed.
    pub(crate) fn read(file: Box<dyn Source>) -> Option<Graph> {
        let (hash_len, chunks) = table(file.as_ref())?;
        let fanout_bytes = read_at(file.as_ref(), chunks.fanout, 256 * 4)?;
        let fanout = (0..256)
            .map(|i| be32(&fanout_bytes, i * 4))
            .collect::<Option<Vec<u32>>>()?;
        // The fan-out counts never decrease; the last one is the number of commits.
        if fanout.windows(2).any(|w| w.first() > w.get(1)) {
            return None;
        }
        let count = usize::try_from(*fanout.last()?).ok()?;
        let size = |(start, end): (u64, u64)| usize::try_from(end.checked_sub(start)?).ok();
        // Every table must be exactly as long as the count says (a corrupt file must not send
        // a read out of its chunk).
        if size(chunks.oid_lookup)? != count.checked_mul(hash_len)?
            || size(chunks.commit_data)? != count.checked_mul(hash_len + 16)?
        {
            return None;
        }
        let edges = match chunks.extra_edges {
            Some(span) => {
                let bytes = read_at(file.as_ref(), span.0, size(span)?)?;
                bytes
                    .chunks_exact(4)
                    .map(|w| be32(w, 0))
                    .collect::<Option<Vec<u32>>>()?
            }
            None => Vec::new(),
        };
        Some(Graph {
            file,
            records: Records {
                count,
                hash_len,
                start: chunks.commit_data.0,
                edges,
            },
            fanout,
            oid_lookup: chunks.oid_lookup.0,
            buckets: vec![None; 256],
            blocks: HashMap::new(),
            levels: true,
            budget: SEARCH_BUDGET,
        })
    }

    /// The position of commit `id` in the graph: `Some(None)` when the graph does not hold it,
    /// `None` when the file cannot say (damaged, unreadable, or of the other hash function).
    pub(crate) fn position(&mut self, id: &Oid) -> Option<Option<usize>> {
        let want = id.as_bytes();
        if want.len() != self.records.hash_len {
            return None;
        }
        let first = usize::from(*want.first()?);
        let start = match first.checked_sub(1) {
            Some(before) => usize::try_from(*self.fanout.get(before)?).ok()?,
            None => 0,
        };
        let end = usize::try_from(*self.fanout.get(first)?).ok()?;
        let hash_len = self.records.hash_len;
        let bucket = match self.buckets.get_mut(first)? {
            Some(b) => b,
            slot => {
                let offset = self.oid_lookup + u64::try_from(start * hash_len).ok()?;
                let bytes = read_at(self.file.as_ref(), offset, (end - start) * hash_len)?;
                slot.insert(bytes)
            }
        };
        // Sorted object ids: a binary search over the bucket.
        let (mut lo, mut hi) = (0usize, bucket.len() / hash_len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let oid = bucket.get(mid * hash_len..(mid + 1) * hash_len)?;
            match oid.cmp(want) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(Some(start + mid)),
            }
        }
        Some(None)
    }

    /// The number of commits in the graph.
    pub(crate) fn len(&self) -> usize {
        self.records.count
    }

    /// The id of the commit at `position` (for the fuzzer, which needs ids the graph holds).
    pub(crate) fn id_at(&self, position: usize) -> Option<Oid> {
        let hash_len = self.records.hash_len;
        if position >= self.records.count {
            return None;
        }
        let offset = self.oid_lookup + u64::try_from(position * hash_len).ok()?;
        let bytes = read_at(self.file.as_ref(), offset, hash_len)?;
        let mut id = Oid {
            bytes: [0; 32],
            len: u8::try_from(hash_len).ok()?,
        };
        id.bytes.get_mut(..hash_len)?.copy_from_slice(&bytes);
        Some(id)
    }

    /// How many commits step 3 may visit for one tag (tests and the fuzzer try others).
    pub(crate) fn set_budget(&mut self, budget: usize) {
        self.budget = budget;
    }

    /// Commit `i`'s record, from its block (read on first use).
    fn record(&mut self, i: usize) -> Option<Record> {
        let Records {
            count,
            hash_len,
            start,
            ..
        } = self.records;
        if i >= count {
            return None;
        }
        let size = hash_len + 16;
        let block = i / BLOCK_RECORDS;
        let first = block * BLOCK_RECORDS;
        let bytes = match self.blocks.entry(block) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let records = BLOCK_RECORDS.min(count - first);
                let offset = start + u64::try_from(first * size).ok()?;
                e.insert(read_at(self.file.as_ref(), offset, records * size)?)
            }
        };
        let at = (i - first) * size;
        record_of(bytes.get(at..at + size)?, hash_len)
    }

    /// Step 3: whether `from` reaches `to`, searching only commits of a level at least `to`'s;
    /// `None` when the search would visit more than `budget` commits (or the file is damaged).
    fn search(&mut self, from: usize, to: usize, budget: usize) -> Option<bool> {
        let floor = if self.levels {
            self.record(to)?.level
        } else {
            0
        };
        let mut seen = std::collections::HashSet::from([from]);
        let mut stack = vec![from];
        let mut parents = Vec::with_capacity(4);
        while let Some(i) = stack.pop() {
            if seen.len() > budget {
                return None;
            }
            let record = self.record(i)?;
            parents.clear();
            self.records
                .each_parent(record.parents, |p| parents.push(p))?;
            for &p in &parents {
                if p == to {
                    return Some(true);
                }
                // A commit's level exceeds its parents', so below `to`'s level it cannot lead
                // to `to` (capped levels compare equal, never below).
                let level = self.record(p)?.level;
                if floor != 0 && level != 0 && level < floor {
                    continue;
                }
                if seen.insert(p) {
                    stack.push(p);
                }
            }
        }
        Some(false)
    }

    /// Which of `tags` (commits, highest version first) is the first that `head` reaches: its
    /// index, by the steps of the module's documentation. `None` when the file turns out
    /// damaged or `head` is not in it (the caller then asks git).
    pub(crate) fn first_merged(&mut self, head: &Oid, tags: &[Oid]) -> Option<Option<usize>> {
        let head = self.position(head)??;
        let head_level = self.record(head)?.level;
        let mut with_children: Option<Reached> = None;
        let mut everything: Option<Reached> = None;
        for (k, tag) in tags.iter().enumerate() {
            // Step 1.
            let Some(t) = self.position(tag)? else {
                continue;
            };
            if t == head {
                return Some(Some(k));
            }
            if let Some(all) = &everything {
                if all.contains(t) {
                    return Some(Some(k));
                }
                continue;
            }
            // Step 2 (capped levels compare equal, never above).
            if self.levels && head_level != 0 && self.record(t)?.level > head_level {
                continue;
            }
            // Step 4, once it has run.
            if with_children.as_ref().is_some_and(|c| !c.contains(t)) {
                continue;
            }
            // Step 3. Each step down lowers the level by one at least, so a tag further below
            // HEAD than the budget cannot be found within it: the search is not tried.
            let gap = match self.record(t)?.level {
                0 => 0,
                level => head_level.saturating_sub(level),
            };
            let reachable_in_budget = !self.levels || usize::try_from(gap).ok()? <= self.budget;
            if reachable_in_budget && let Some(found) = self.search(head, t, self.budget) {
                if found {
                    return Some(Some(k));
                }
                continue;
            }
            // Step 4.
            if with_children.is_none() {
                let parents = self.records.with_children(self.file.as_ref())?;
                let tip = !parents.contains(t);
                with_children = Some(parents);
                if tip {
                    continue;
                }
            }
            // Step 5.
            let all = self.records.reachable(self.file.as_ref(), head)?;
            let merged = all.contains(t);
            everything = Some(all);
            if merged {
                return Some(Some(k));
            }
        }
        Some(None)
    }
}

impl Records {
    /// Calls `f` with each parent of the commit whose parent words are `words`; `None` when a
    /// parent is not a commit of the file.
    fn each_parent(&self, words: [u32; 2], mut f: impl FnMut(usize)) -> Option<()> {
        let count = self.count;
        let mut push = |p: u32| -> Option<()> {
            let p = usize::try_from(p).ok()?;
            (p < count).then(|| f(p))
        };
        let [first, second] = words;
        if first != NO_PARENT {
            push(first)?;
        }
        if second == NO_PARENT {
            return Some(());
        }
        if second & EXTRA_EDGES == 0 {
            return push(second);
        }
        // An octopus merge: the rest of the parents are listed in the EDGE chunk.
        let mut edge = usize::try_from(second & !EXTRA_EDGES).ok()?;
        loop {
            let value = *self.edges.get(edge)?;
            push(value & !LAST_EDGE)?;
            if value & LAST_EDGE != 0 {
                return Some(());
            }
            edge = edge.checked_add(1)?;
        }
    }

    /// Streams the parent words of every record of `file`, in order, through one buffer.
    fn each_record(
        &self,
        file: &dyn Source,
        mut f: impl FnMut([u32; 2]) -> Option<()>,
    ) -> Option<()> {
        let size = self.hash_len + 16;
        let per_read = (64 * 1024 / size).max(1);
        let mut buffer = vec![0; per_read * size];
        let mut i = 0;
        while i < self.count {
            let records = per_read.min(self.count - i);
            let bytes = buffer.get_mut(..records * size)?;
            file.fill_at(bytes, self.start + u64::try_from(i * size).ok()?)?;
            for entry in bytes.chunks_exact(size) {
                let words = entry.get(self.hash_len..self.hash_len + 8)?;
                f([be32(words, 0)?, be32(words, 4)?])?;
            }
            i += records;
        }
        Some(())
    }

    /// Step 4: the commits that are some commit's parent, in one pass.
    fn with_children(&self, file: &dyn Source) -> Option<Reached> {
        let mut parents = Reached::new(self.count);
        self.each_record(file, |words| {
            self.each_parent(words, |p| {
                parents.insert(p);
            })
        })?;
        Some(parents)
    }

    /// Step 5: which commits `start` reaches (itself included), by position.
    fn reachable(&self, file: &dyn Source, start: usize) -> Option<Reached> {
        let mut parents = Vec::with_capacity(self.count);
        self.each_record(file, |words| {
            parents.push(words);
            Some(())
        })?;
        let mut seen = Reached::new(self.count);
        seen.insert(start)?;
        let mut stack = vec![start];
        let mut next = Vec::with_capacity(4);
        while let Some(i) = stack.pop() {
            next.clear();
            self.each_parent(*parents.get(i)?, |p| next.push(p))?;
            for &p in &next {
                if seen.insert(p)? {
                    stack.push(p);
                }
            }
        }
        Some(seen)
    }
}

/// A set of commit positions, one bit each (small enough to stay in the cache during a walk).
#[derive(Debug)]
struct Reached {
    bits: Vec<u64>,
}

impl Reached {
    fn new(count: usize) -> Reached {
        Reached {
            bits: vec![0; count.div_ceil(64)],
        }
    }

    /// Adds `i`; whether it was new, `None` when it is out of range.
    fn insert(&mut self, i: usize) -> Option<bool> {
        let word = self.bits.get_mut(i / 64)?;
        let mask = 1u64 << (i % 64);
        let new = *word & mask == 0;
        *word |= mask;
        Some(new)
    }

    /// Whether `i` was reached.
    fn contains(&self, i: usize) -> bool {
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::process::Command;
    use std::sync::OnceLock;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// A commit, and every commit it reaches (itself included), as git says.
    type Ancestry = Vec<(String, BTreeSet<String>)>;

    /// A repository with 40-odd commits: merged branches, an octopus merge, an unmerged branch
    /// of three commits and an unmerged single commit. Its commit-graph's bytes, and the
    /// ancestry of every commit. Built once.
    fn sample() -> &'static (Vec<u8>, Ancestry) {
        static SAMPLE: OnceLock<(Vec<u8>, Ancestry)> = OnceLock::new();
        SAMPLE.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            git(d, &["init", "-q", "-b", "main"]);
            let commit = |m: &str| git(d, &["commit", "-q", "--allow-empty", "-m", m]);
            for i in 0..30 {
                commit(&format!("c{i}"));
            }
            for b in ["a", "b", "c"] {
                git(d, &["checkout", "-q", "-b", b, "main~5"]);
                commit(b);
            }
            git(d, &["checkout", "-q", "-b", "unmerged", "main~10"]);
            for i in 0..3 {
                commit(&format!("u{i}"));
            }
            git(d, &["checkout", "-q", "-b", "tip", "main~2"]);
            commit("tip");
            git(d, &["checkout", "-q", "main"]);
            git(d, &["merge", "-q", "--no-edit", "a"]);
            git(d, &["merge", "-q", "--no-edit", "b", "c"]);
            commit("after");
            git(d, &["commit-graph", "write", "--reachable"]);
            let ancestry = git(d, &["rev-list", "--all"])
                .lines()
                .map(|c| {
                    let reached = git(d, &["rev-list", c]);
                    (c.to_string(), reached.lines().map(str::to_string).collect())
                })
                .collect();
            let bytes = std::fs::read(d.join(".git/objects/info/commit-graph")).unwrap();
            (bytes, ancestry)
        })
    }

    fn id(hex: &str) -> Oid {
        Oid::from_hex(hex.as_bytes()).unwrap()
    }

    /// A git directory holding `bytes` as its commit-graph.
    fn with_graph(bytes: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("objects/info")).unwrap();
        std::fs::write(dir.path().join("objects/info/commit-graph"), bytes).unwrap();
        dir
    }

    /// `bytes` with the level of every `nth` commit record set to 0 ("not computed").
    fn without_levels(bytes: &[u8], nth: usize) -> Vec<u8> {
        let mut bytes = bytes.to_vec();
        let graph = Graph::open(with_graph(&bytes).path()).unwrap();
        let start = usize::try_from(graph.records.start).unwrap();
        for i in (0..graph.records.count).step_by(nth) {
            let at = start + i * 36 + 28;
            bytes[at..at + 4].copy_from_slice(&[0, 0, 0, 0]);
        }
        bytes
    }

    /// Every pair of commits, answered by each step the search can end at.
    #[test]
    fn every_pair_agrees_with_git_whatever_step_answers() {
        let (bytes, ancestry) = sample();
        // Levels as git wrote them, none (as before git 2.18), and only some.
        for levels_written in [
            bytes.clone(),
            without_levels(bytes, 1),
            without_levels(bytes, 3),
        ] {
            let dir = with_graph(&levels_written);
            agrees_with_git(dir.path(), ancestry);
        }
    }

    fn agrees_with_git(dir: &Path, ancestry: &Ancestry) {
        // (search budget, levels): the usual; no search (steps 4 and 5); no levels.
        for (budget, levels) in [(SEARCH_BUDGET, true), (0, true), (SEARCH_BUDGET, false)] {
            for (head, reached) in ancestry {
                for (tag, _) in ancestry {
                    let mut graph = Graph::open(dir).unwrap();
                    graph.budget = budget;
                    graph.levels &= levels;
                    let merged = graph.first_merged(&id(head), &[id(tag)]).unwrap();
                    assert_eq!(
                        merged.is_some(),
                        reached.contains(tag),
                        "{head} reaches {tag}? (budget {budget}, levels {levels})"
                    );
                }
            }
        }
    }

    #[test]
    fn the_first_merged_tag_of_several_is_chosen() {
        let (bytes, ancestry) = sample();
        let mut graph = Graph::open(with_graph(bytes).path()).unwrap();
        let (head, reached) = &ancestry[0];
        let outside: Vec<Oid> = ancestry
            .iter()
            .filter(|(c, _)| !reached.contains(c))
            .map(|(c, _)| id(c))
            .collect();
        assert!(outside.len() >= 4, "the sample has unmerged commits");
        let inside = reached.iter().find(|c| *c != head).unwrap();
        let mut tags = outside.clone();
        tags.push(id(inside));
        tags.push(id(head));
        let head = id(head);
        assert_eq!(graph.first_merged(&head, &tags), Some(Some(outside.len())));
        assert_eq!(graph.first_merged(&head, &outside), Some(None));
        // A tag whose commit is not in the graph is not merged; a HEAD outside it is trouble.
        let absent = id(&"0".repeat(40));
        assert_eq!(graph.first_merged(&head, &[absent]), Some(None));
        assert_eq!(graph.first_merged(&absent, &[head]), None);
        // An id of the other hash function: the file cannot answer.
        let sha256 = id(&"ab".repeat(32));
        assert_eq!(graph.first_merged(&head, &[sha256]), None);
    }

    #[test]
    fn a_truncated_file_or_a_parent_out_of_range_is_refused() {
        let (bytes, ancestry) = sample();
        for len in [0, 7, 20, 1100, bytes.len() / 2, bytes.len() - 40] {
            let dir = with_graph(&bytes[..len]);
            assert!(Graph::open(dir.path()).is_none(), "{len} bytes accepted");
        }
        // HEAD's first parent pointed past the last commit: the search must say so, not
        // answer "not merged".
        let (head, reached) = &ancestry[0];
        let below = reached.iter().find(|c| *c != head).unwrap();
        let mut graph = Graph::open(with_graph(bytes).path()).unwrap();
        let at = graph.position(&id(head)).unwrap().unwrap();
        let word = usize::try_from(graph.records.start).unwrap() + at * 36 + 20;
        let mut damaged = bytes.clone();
        damaged[word..word + 4].copy_from_slice(&0xFFFFu32.to_be_bytes());
        for budget in [SEARCH_BUDGET, 0] {
            let mut graph = Graph::open(with_graph(&damaged).path()).unwrap();
            graph.budget = budget;
            assert_eq!(
                graph.first_merged(&id(head), &[id(below)]),
                None,
                "budget {budget}"
            );
        }
    }

    proptest! {
        /// Any damage to the file: refused, or read without a panic.
        #[test]
        fn damaged_files_never_panic(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in proptest::option::of(any::<prop::sample::Index>()),
            budget in prop_oneof![Just(0usize), Just(SEARCH_BUDGET)],
        ) {
            let (bytes, ancestry) = sample();
            let mut damaged = bytes.clone();
            for (at, value) in flips {
                let i = at.index(damaged.len());
                damaged[i] = value;
            }
            if let Some(cut) = cut {
                damaged.truncate(cut.index(damaged.len() + 1));
            }
            let dir = with_graph(&damaged);
            if let Some(mut graph) = Graph::open(dir.path()) {
                graph.budget = budget;
                let tags: Vec<Oid> = ancestry.iter().map(|(c, _)| id(c)).collect();
                for head in tags.iter().take(4) {
                    let _ = graph.first_merged(head, &tags);
                }
            }
        }
    }
}
