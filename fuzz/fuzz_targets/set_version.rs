//! Any text and version: the editor either refuses or returns text that reads back the version.
#![no_main]

use cd_core::manifest::{Catalog, Selector, set_version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line is the version, the rest the file.
    let (version, file) = text.split_once('\n').unwrap_or(("v1.0.0", text));
    if let Ok(edited) = set_version(file, Selector::Only, version) {
        let catalog = Catalog::load([("f.yaml", edited.as_str())]).catalog;
        for dc in catalog.deployment_configs.values() {
            if let Some(v) = &dc.version {
                assert!(!v.is_empty());
            }
        }
        // Editing again to the same version changes nothing.
        assert_eq!(
            set_version(&edited, Selector::Only, version).as_deref(),
            Ok(edited.as_str())
        );
    }
});
