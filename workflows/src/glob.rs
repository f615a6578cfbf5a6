//! Branch patterns as GitHub reads them in workflow filters and rulesets, limited to the two
//! wildcards this crate writes: `*` (any run of characters but `/`) and `**` (any run at all).
//! Every other character stands for itself, so the rules here and GitHub's agree on every
//! pattern we generate.

/// Whether `pattern` holds only literal characters, `*` and `**`: the subset both GitHub's
/// filters and [`matches`] read the same way.
#[must_use]
pub fn is_supported(pattern: &str) -> bool {
    !pattern.is_empty()
        && !pattern.contains("***")
        && pattern
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_./*".contains(&c))
}

/// Whether `name` (a branch name, without `refs/heads/`) matches `pattern`.
#[must_use]
pub fn matches(pattern: &str, name: &str) -> bool {
    match_from(pattern.as_bytes(), name.as_bytes())
}

fn match_from(pattern: &[u8], name: &[u8]) -> bool {
    match pattern {
        [] => name.is_empty(),
        [b'*', b'*', rest @ ..] => {
            (0..=name.len()).any(|i| match_from(rest, name.get(i..).unwrap_or_default()))
        }
        [b'*', rest @ ..] => {
            let run = name.iter().take_while(|c| **c != b'/').count();
            (0..=run).any(|i| match_from(rest, name.get(i..).unwrap_or_default()))
        }
        [c, rest @ ..] => {
            name.first() == Some(c) && match_from(rest, name.get(1..).unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_star_stays_within_a_segment_two_cross_them() {
        assert!(matches("main", "main") && !matches("main", "main2"));
        assert!(matches("release/*/*", "release/shop/2026.11"));
        assert!(!matches("release/*/*", "release/shop"));
        assert!(!matches("release/*/*", "release/shop/2026/11"));
        assert!(matches("feat/**", "feat/a/b") && matches("feat/**", "feat/"));
        assert!(!matches("feat/**", "feature/a"));
        assert!(matches("hotfix/*", "hotfix/x") && !matches("hotfix/*", "hotfix/x/y"));
    }

    #[test]
    fn supported_patterns_are_literal_but_for_stars() {
        assert!(is_supported("release/*/*") && is_supported("feat/**"));
        assert!(!is_supported("!main") && !is_supported("v[0-9]") && !is_supported(""));
    }
}
