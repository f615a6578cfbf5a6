//! Any bytes as what an OCI registry answers (the first byte picks which): an authentication
//! challenge, a `Link` header, a token answer, a tag list page, a digest header. Each is read
//! or refused, never a panic; a next page stays on the registry that sent it, a digest read is
//! `sha256:` and 64 hex digits.
#![no_main]

use cd_oci::answers::{digest, next_page, parse_challenge, tag_list, token_answer};
use libfuzzer_sys::fuzz_target;

const BASE: &str = "https://registry.example";

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match pick % 5 {
        0 => {
            let c = parse_challenge(&text);
            assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
            assert!(c.params.keys().all(|k| *k == k.to_ascii_lowercase()));
        }
        1 => {
            if let Some(url) = next_page(&text, BASE) {
                assert!(
                    url.starts_with(&format!("{BASE}/")) || url == BASE,
                    "{url} leaves {BASE}"
                );
            }
        }
        2 => {
            if let Ok(token) = token_answer(rest) {
                assert!(!token.is_empty());
            }
        }
        3 => {
            let _ = tag_list(rest);
        }
        _ => {
            if let Ok(d) = digest(&text) {
                assert_eq!(d.len(), 71);
                assert!(d.starts_with("sha256:"));
            }
        }
    }
});
