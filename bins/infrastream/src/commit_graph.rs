//! Reachability from git's commit-graph file, read in-process: one pass marks everything HEAD
//! reaches, where asking git costs a history walk per unmerged tag. Used when the repository
//! has a single (non-split) commit-graph that contains HEAD; anything unexpected returns `None`
//! and the caller asks git instead. Format: git's `gitformat-commit-graph` documentation.
//!
//! Only what the walk needs is read. The commit data table is streamed once, in file order,
//! into a compact array of parent positions (8 bytes a commit instead of the table's 36 or 48),
//! so the walk's random accesses stay in a small array rather than in the file's image. Object
//! ids are read a fan-out bucket at a time, only for the commits looked up.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const NO_PARENT: u32 = 0x7000_0000;
const EXTRA_EDGES: u32 = 0x8000_0000;
const LAST_EDGE: u32 = 0x8000_0000;
/// The most chunks a table may list (git writes at most nine).
const MAX_CHUNKS: usize = 64;

/// A commit-graph file, opened for lookups and walks.
pub(crate) struct Graph {
    file: File,
    count: usize,
    hash_len: usize,
    /// The 256 cumulative counts of the fan-out table.
    fanout: Vec<u32>,
    oid_lookup: u64,
    /// Object ids of the fan-out buckets read so far, by first byte.
    buckets: Vec<Option<Vec<u8>>>,
    /// Each commit's two parent words, as the commit data table stores them.
    parents: Vec<[u32; 2]>,
    /// The extra-edge list of octopus merges.
    edges: Vec<u32>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("count", &self.count)
            .field("hash_len", &self.hash_len)
            .finish_non_exhaustive()
    }
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn be64(data: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = data.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn read_at(file: &mut File, offset: u64, len: usize) -> Option<Vec<u8>> {
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = vec![0; len];
    file.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// Where each chunk the walk needs starts and ends.
struct Chunks {
    fanout: u64,
    oid_lookup: (u64, u64),
    commit_data: (u64, u64),
    extra_edges: Option<(u64, u64)>,
}

/// Reads the header and the chunk table: the hash length, the chunks, the file's length.
fn table(file: &mut File) -> Option<(usize, Chunks)> {
    let len = file.metadata().ok()?.len();
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

impl Graph {
    /// The commit-graph of the repository whose git directory is `git_dir`, if it has a single
    /// well-formed one.
    pub(crate) fn open(git_dir: &Path) -> Option<Graph> {
        let mut file = File::open(git_dir.join("objects/info/commit-graph")).ok()?;
        let (hash_len, chunks) = table(&mut file)?;
        let fanout_bytes = read_at(&mut file, chunks.fanout, 256 * 4)?;
        let fanout = (0..256)
            .map(|i| be32(&fanout_bytes, i * 4))
            .collect::<Option<Vec<u32>>>()?;
        // The fan-out counts never decrease; the last one is the number of commits.
        if fanout.windows(2).any(|w| w.first() > w.get(1)) {
            return None;
        }
        let count = usize::try_from(*fanout.last()?).ok()?;
        let record = hash_len + 16;
        let size = |(start, end): (u64, u64)| usize::try_from(end.checked_sub(start)?).ok();
        // Every table must be exactly as long as the count says (a corrupt file must not send
        // a read out of its chunk).
        if size(chunks.oid_lookup)? != count.checked_mul(hash_len)?
            || size(chunks.commit_data)? != count.checked_mul(record)?
        {
            return None;
        }
        // Whole records at a time, through one buffer that stays in the cache.
        file.seek(SeekFrom::Start(chunks.commit_data.0)).ok()?;
        let per_block = (64 * 1024 / record).max(1);
        let mut block = vec![0; per_block * record];
        let mut parents = Vec::with_capacity(count);
        while parents.len() < count {
            let records = per_block.min(count - parents.len());
            let bytes = block.get_mut(..records * record)?;
            file.read_exact(bytes).ok()?;
            for entry in bytes.chunks_exact(record) {
                parents.push([be32(entry, hash_len)?, be32(entry, hash_len + 4)?]);
            }
        }
        let edges = match chunks.extra_edges {
            Some(span) => {
                let bytes = read_at(&mut file, span.0, size(span)?)?;
                bytes
                    .chunks_exact(4)
                    .map(|w| be32(w, 0))
                    .collect::<Option<Vec<u32>>>()?
            }
            None => Vec::new(),
        };
        Some(Graph {
            file,
            count,
            hash_len,
            fanout,
            oid_lookup: chunks.oid_lookup.0,
            buckets: vec![None; 256],
            parents,
            edges,
        })
    }

    /// The position of commit `hex` in the graph.
    pub(crate) fn position(&mut self, hex: &str) -> Option<usize> {
        let want = unhex(hex)?;
        if want.len() != self.hash_len {
            return None;
        }
        let first = usize::from(*want.first()?);
        let start = match first.checked_sub(1) {
            Some(before) => usize::try_from(*self.fanout.get(before)?).ok()?,
            None => 0,
        };
        let end = usize::try_from(*self.fanout.get(first)?).ok()?;
        let hash_len = self.hash_len;
        let bucket = match self.buckets.get_mut(first)? {
            Some(b) => b,
            slot => {
                let offset = self.oid_lookup + u64::try_from(start * hash_len).ok()?;
                let bytes = read_at(&mut self.file, offset, (end - start) * hash_len)?;
                slot.insert(bytes)
            }
        };
        // Sorted object ids: a binary search over the bucket.
        let (mut lo, mut hi) = (0usize, bucket.len() / hash_len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let oid = bucket.get(mid * hash_len..(mid + 1) * hash_len)?;
            match oid.cmp(want.as_slice()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(start + mid),
            }
        }
        None
    }

    /// Pushes the parents of commit `i`; `None` when the file names a commit it does not hold.
    fn parents(&self, i: usize, out: &mut Vec<usize>) -> Option<()> {
        let [first, second] = *self.parents.get(i)?;
        let mut push = |p: u32| -> Option<()> {
            let p = usize::try_from(p).ok()?;
            (p < self.count).then(|| out.push(p))
        };
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

    /// Which commits `start` reaches (itself included), by position.
    pub(crate) fn reachable(&self, start: usize) -> Option<Reached> {
        let mut seen = Reached {
            bits: vec![0; self.count.div_ceil(64)],
        };
        if !seen.insert(start)? {
            return None;
        }
        let mut stack = vec![start];
        let mut parents = Vec::with_capacity(4);
        while let Some(i) = stack.pop() {
            parents.clear();
            self.parents(i, &mut parents)?;
            for p in &parents {
                if seen.insert(*p)? {
                    stack.push(*p);
                }
            }
        }
        Some(seen)
    }
}

/// A set of commit positions, one bit each (small enough to stay in the cache during a walk).
#[derive(Debug)]
pub(crate) struct Reached {
    bits: Vec<u64>,
}

impl Reached {
    /// Adds `i`; whether it was new, `None` when it is out of range.
    fn insert(&mut self, i: usize) -> Option<bool> {
        let word = self.bits.get_mut(i / 64)?;
        let mask = 1u64 << (i % 64);
        let new = *word & mask == 0;
        *word |= mask;
        Some(new)
    }

    /// Whether `i` was reached.
    pub(crate) fn contains(&self, i: usize) -> bool {
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

    /// A repository with 40 commits, a merge and an octopus merge, and its commit-graph:
    /// (HEAD, every commit, the file's bytes). Built once.
    fn sample() -> &'static (String, Vec<String>, Vec<u8>) {
        static SAMPLE: OnceLock<(String, Vec<String>, Vec<u8>)> = OnceLock::new();
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
            git(d, &["checkout", "-q", "main"]);
            git(d, &["merge", "-q", "--no-edit", "a"]);
            git(d, &["merge", "-q", "--no-edit", "b", "c"]);
            commit("after");
            git(d, &["commit-graph", "write", "--reachable"]);
            let head = git(d, &["rev-parse", "HEAD"]);
            let all = git(d, &["rev-list", "--all"])
                .lines()
                .map(str::to_string)
                .collect();
            let bytes = std::fs::read(d.join(".git/objects/info/commit-graph")).unwrap();
            (head, all, bytes)
        })
    }

    /// A git directory holding `bytes` as its commit-graph.
    fn with_graph(bytes: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("objects/info")).unwrap();
        std::fs::write(dir.path().join("objects/info/commit-graph"), bytes).unwrap();
        dir
    }

    #[test]
    fn head_reaches_every_commit_of_the_sample() {
        let (head, all, bytes) = sample();
        let dir = with_graph(bytes);
        let mut graph = Graph::open(dir.path()).unwrap();
        let start = graph.position(head).unwrap();
        let reached = graph.reachable(start).unwrap();
        for commit in all {
            let at = graph.position(commit).unwrap();
            assert!(reached.contains(at), "{commit} not reached");
        }
        assert_eq!(graph.position(&"0".repeat(40)), None);
    }

    #[test]
    fn a_truncated_file_or_a_parent_out_of_range_is_refused() {
        let (head, _, bytes) = sample();
        for len in [0, 7, 20, 1100, bytes.len() / 2, bytes.len() - 40] {
            let dir = with_graph(&bytes[..len]);
            assert!(Graph::open(dir.path()).is_none(), "{len} bytes accepted");
        }
        // Every first-parent word pointed past the last commit: the walk must say so.
        let mut graph = Graph::open(with_graph(bytes).path()).unwrap();
        let start = graph.position(head).unwrap();
        for p in &mut graph.parents {
            if p[0] != NO_PARENT {
                p[0] = 10_000;
            }
        }
        assert!(graph.reachable(start).is_none());
    }

    proptest! {
        /// Any damage to the file: refused, or read without a panic.
        #[test]
        fn damaged_files_never_panic(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in proptest::option::of(any::<prop::sample::Index>()),
        ) {
            let (head, all, bytes) = sample();
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
                for commit in all.iter().take(5).chain([head]) {
                    if let Some(at) = graph.position(commit) {
                        let _ = graph.reachable(at);
                    }
                }
            }
        }
    }
}
