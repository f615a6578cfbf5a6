//! Any text as what git prints for the manifest adapter: a NUL-separated path list, the
//! promotion index's log listing, `rev-list --parents`, a failed command's standard error.
//! Read without a panic; paths are never empty and never hold a NUL; every promotion listed is
//! one whose message carries exactly its trailers.
#![no_main]

use cd_core::pipeline::Promotion;
use cd_git::output::{failure, has_parent, nul_paths, promotions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for path in nul_paths(&text) {
        assert!(!path.is_empty() && !path.contains('\0'));
    }
    let _ = has_parent(&text);
    for (promotion, commit) in promotions(&text) {
        assert!(!commit.contains('\x1f') && !commit.contains('\x1e'));
        // Some entry of that commit carries exactly the promotion's trailers.
        assert!(text.split('\x1e').any(|e| {
            e.trim_start()
                .split_once('\x1f')
                .is_some_and(|(c, message)| {
                    c == commit && Promotion::parse(message).as_ref() == Some(&promotion)
                })
        }));
    }
    let _ = failure("git push", &text);
});
