//! Ref and workflow patterns: `*` matches any run of characters other than `/`; nothing else is
//! special.

/// Whether `text` matches `pattern`.
#[must_use]
pub fn matches(pattern: &str, text: &str) -> bool {
    // `*` never crosses `/`, so the pattern's segments and the text's must pair one to one.
    let mut pattern = pattern.split('/');
    let mut text = text.split('/');
    loop {
        match (pattern.next(), text.next()) {
            (None, None) => return true,
            (Some(p), Some(t)) if segment_matches(p.as_bytes(), t.as_bytes()) => {}
            _ => return false,
        }
    }
}

/// One segment (no `/`), with the classic wildcard walk: remember the last `*` and, on a
/// mismatch, let it swallow one more character.
fn segment_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match (pattern.get(p), text.get(t)) {
            (Some(b'*'), _) => {
                star = Some((p, t));
                p += 1;
            }
            (Some(a), Some(b)) if a == b => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|c| *c == b'*'))
}

/// Whether `pattern` is one a policy may hold: non-empty, printable, no whitespace.
#[must_use]
pub fn is_pattern(pattern: &str) -> bool {
    !pattern.is_empty() && pattern.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn star_matches_within_one_segment() {
        assert!(matches("refs/heads/main", "refs/heads/main"));
        assert!(matches("refs/heads/release/*", "refs/heads/release/1.2"));
        assert!(matches("refs/heads/release/*", "refs/heads/release/"));
        assert!(!matches("refs/heads/release/*", "refs/heads/release/1/2"));
        assert!(!matches("refs/heads/*", "refs/heads/feature/x"));
        assert!(matches("refs/tags/v*", "refs/tags/v1.2.3"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(matches("*", ""));
        assert!(!matches("refs/heads/main", "refs/heads/Main"));
        assert!(!matches("refs/heads/main", "refs/heads/main2"));
        assert!(matches(
            "northwind/*/.github/workflows/*.yaml@refs/heads/main",
            "northwind/shop-api/.github/workflows/ci.yaml@refs/heads/main"
        ));
        // Regex and glob syntax is literal.
        assert!(!matches("refs/heads/?", "refs/heads/a"));
        assert!(matches("refs/heads/[a]", "refs/heads/[a]"));
    }

    /// A direct reading of the rule: a regular expression over bytes where `*` is `[^/]*`.
    fn by_regex(pattern: &str, text: &str) -> bool {
        fn go(p: &[u8], t: &[u8]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some((b'*', rest)) => (0..=t.len())
                    .take_while(|i| *i == 0 || t[*i - 1] != b'/')
                    .any(|i| go(rest, &t[i..])),
                Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
            }
        }
        go(pattern.as_bytes(), text.as_bytes())
    }

    proptest! {
        #[test]
        fn agrees_with_a_direct_reading(pattern in "[ab/*]{0,8}", text in "[ab/]{0,8}") {
            prop_assert_eq!(matches(&pattern, &text), by_regex(&pattern, &text));
        }
    }
}
