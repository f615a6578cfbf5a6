//! Any bytes as a manifest file: loading must report problems, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cd_core::manifest::Catalog::load([("fuzz.yaml", text)]);
    }
});
