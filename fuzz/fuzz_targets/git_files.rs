//! Any bytes as the repository files `infrastream-ci` reads itself, by the first byte modulo 3: a
//! commit-graph (0), `packed-refs` (1), or commit objects as `git cat-file` gives them (2),
//! walked and checked against a search of every parent. Each is refused or read, and searched,
//! without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => infrastream_ci::fuzzing::commit_graph(rest),
        1 => infrastream_ci::fuzzing::packed_refs(rest),
        _ => infrastream_ci::fuzzing::commit_objects(rest),
    }
});
