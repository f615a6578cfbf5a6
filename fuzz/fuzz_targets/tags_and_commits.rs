//! Any strings as tags, commit headers and PR titles: every parser answers, none panics.
#![no_main]

use cd_core::version::{
    Bump, ReleaseType, VersionInputs, check_pr_title, compute_version, parse_message,
    production_tag, rc_tag,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let words: Vec<String> = text.split(['\n', ' ']).map(str::to_string).collect();
    let _ = parse_message(text);
    let _ = check_pr_title(text, Some("dependabot[bot]"));
    let (set, bundle) = text.split_once('/').unwrap_or((text, "b"));
    if let Ok(rc) = rc_tag(set, bundle, words.iter().map(String::as_str)) {
        assert!(!words.contains(&rc));
        if let Ok(prod) = production_tag(&rc, words.iter().map(String::as_str)) {
            assert!(!words.contains(&prod));
        }
    }
    for release_type in ReleaseType::ALL {
        let inputs = VersionInputs {
            bump: Some(Bump::from_labels(&words)),
            release_type: Some(release_type),
            merged_tags: words.clone(),
            head_tags: Vec::new(),
            all_tags: words.clone(),
        };
        if let Ok(v) = compute_version(&inputs) {
            assert!(v.skip || !words.contains(&v.target_version));
        }
    }
});
