//! Any bytes as the repository files `infrastream-ci` reads itself: a commit-graph (the first
//! byte even) or `packed-refs` (odd). Each is refused or read, and searched, without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        infrastream_ci::fuzzing::commit_graph(rest);
    } else {
        infrastream_ci::fuzzing::packed_refs(rest);
    }
});
