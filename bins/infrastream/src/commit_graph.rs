//! Reachability from git's commit-graph file, read in-process: one pass marks everything HEAD
//! reaches, where asking git costs a history walk per unmerged tag. Used when the repository
//! has a single (non-split) commit-graph that contains HEAD; anything unexpected returns `None`
//! and the caller asks git instead. Format: git's `gitformat-commit-graph` documentation.

use std::path::Path;

const NO_PARENT: u32 = 0x7000_0000;
const EXTRA_EDGES: u32 = 0x8000_0000;
const LAST_EDGE: u32 = 0x8000_0000;

/// A parsed commit-graph file.
pub(crate) struct Graph {
    data: Vec<u8>,
    count: usize,
    hash_len: usize,
    oid_lookup: usize,
    commit_data: usize,
    extra_edges: Option<usize>,
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn be64(data: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = data.get(at..at + 8)?.try_into().ok()?;
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

impl Graph {
    /// The commit-graph of the repository whose git directory is `git_dir`, if it has a single
    /// well-formed one.
    pub(crate) fn open(git_dir: &Path) -> Option<Graph> {
        let data = std::fs::read(git_dir.join("objects/info/commit-graph")).ok()?;
        if data.get(0..4)? != b"CGPH" || *data.get(4)? != 1 {
            return None;
        }
        let hash_len = match *data.get(5)? {
            1 => 20,
            2 => 32,
            _ => return None,
        };
        let chunks = usize::from(*data.get(6)?);
        // Base graphs mean a split chain: not handled here.
        if *data.get(7)? != 0 {
            return None;
        }
        let (mut fanout, mut oid_lookup, mut commit_data, mut extra_edges) =
            (None, None, None, None);
        for i in 0..chunks {
            let entry = 8 + i * 12;
            let id = data.get(entry..entry + 4)?;
            let offset = usize::try_from(be64(&data, entry + 4)?).ok()?;
            match id {
                b"OIDF" => fanout = Some(offset),
                b"OIDL" => oid_lookup = Some(offset),
                b"CDAT" => commit_data = Some(offset),
                b"EDGE" => extra_edges = Some(offset),
                _ => {}
            }
        }
        let fanout = fanout?;
        let count = usize::try_from(be32(&data, fanout.checked_add(255 * 4)?)?).ok()?;
        let graph = Graph {
            count,
            hash_len,
            oid_lookup: oid_lookup?,
            commit_data: commit_data?,
            extra_edges,
            data,
        };
        // Every table must fit in the file (offsets from a corrupt file must not overflow).
        let oids_end = count.checked_mul(hash_len)?.checked_add(graph.oid_lookup)?;
        let data_end = count
            .checked_mul(hash_len + 16)?
            .checked_add(graph.commit_data)?;
        graph.data.get(graph.oid_lookup..oids_end)?;
        graph.data.get(graph.commit_data..data_end)?;
        if let Some(edges) = graph.extra_edges {
            graph.data.get(edges..)?;
        }
        Some(graph)
    }

    fn oid(&self, i: usize) -> Option<&[u8]> {
        let at = self.oid_lookup + i * self.hash_len;
        self.data.get(at..at + self.hash_len)
    }

    /// The position of commit `hex` in the graph.
    pub(crate) fn position(&self, hex: &str) -> Option<usize> {
        let want = unhex(hex)?;
        if want.len() != self.hash_len {
            return None;
        }
        let (mut lo, mut hi) = (0usize, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.oid(mid)?.cmp(want.as_slice()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    fn parents(&self, i: usize, out: &mut Vec<usize>) -> Option<()> {
        let at = self.commit_data + i * (self.hash_len + 16) + self.hash_len;
        let first = be32(&self.data, at)?;
        let second = be32(&self.data, at + 4)?;
        if first != NO_PARENT {
            out.push(usize::try_from(first).ok()?);
        }
        if second == NO_PARENT {
            return Some(());
        }
        if second & EXTRA_EDGES == 0 {
            out.push(usize::try_from(second).ok()?);
            return Some(());
        }
        // An octopus merge: the rest of the parents are listed in the EDGE chunk.
        let mut edge = usize::try_from(second & !EXTRA_EDGES)
            .ok()?
            .checked_mul(4)?
            .checked_add(self.extra_edges?)?;
        loop {
            let value = be32(&self.data, edge)?;
            out.push(usize::try_from(value & !LAST_EDGE).ok()?);
            if value & LAST_EDGE != 0 {
                return Some(());
            }
            edge = edge.checked_add(4)?;
        }
    }

    /// Which commits `start` reaches (itself included), by position.
    pub(crate) fn reachable(&self, start: usize) -> Option<Vec<bool>> {
        let mut seen = vec![false; self.count];
        let mut stack = vec![start];
        let mut parents = Vec::with_capacity(4);
        while let Some(i) = stack.pop() {
            let slot = seen.get_mut(i)?;
            if *slot {
                continue;
            }
            *slot = true;
            parents.clear();
            self.parents(i, &mut parents)?;
            stack.extend(parents.iter().copied().filter(|p| *p < self.count));
        }
        Some(seen)
    }
}
