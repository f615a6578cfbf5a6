//! The narrow grammars values must fit before a generated workflow carries them: each keeps
//! quotes, `$`, `#`, braces, spaces and newlines out, so a manifest can never smuggle an
//! expression (`${{ ... }}`) or a shell word into CI.

/// `[a-z0-9]` runs joined by single `-`, `.` or `_`: a name safe in a path, an image
/// reference, a job id and a shell word (and `--` stays free as a separator).
pub(crate) fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    let separator = |c: &u8| b"-._".contains(c);
    !b.is_empty()
        && b.len() <= 100
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || separator(c))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && !b.windows(2).any(|w| w.iter().all(separator))
}

/// `os/arch` or `os/arch/variant`, lowercase letters and digits: `linux/amd64`, `linux/arm/v7`.
pub(crate) fn is_platform(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// Printable ASCII without quotes, backslashes, `$`, backticks, spaces or `#`: a value that
/// means the same to YAML, to the shell and to GitHub's expression parser.
pub(crate) fn is_inert(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 512
        && s.bytes()
            .all(|c| c.is_ascii_graphic() && !b"\"'\\$`#{}".contains(&c))
}

/// A relative path inside the repository: inert, no `..` segment, no leading `/`.
pub(crate) fn is_relative_path(s: &str) -> bool {
    is_inert(s) && !s.starts_with('/') && s.split('/').all(|seg| seg != "..")
}

/// `https://host[/path]`: inert, nothing after the host but a path.
pub(crate) fn is_https_url(s: &str) -> bool {
    is_inert(s)
        && s.strip_prefix("https://")
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/') && !rest.contains('@'))
}

/// Slash-separated segments matching `words`, e.g. `projects/*/topics/*`: `*` takes one inert
/// segment, any other word must appear as written.
pub(crate) fn matches_path(s: &str, words: &[&str]) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    is_inert(s)
        && parts.len() == words.len()
        && parts
            .iter()
            .zip(words)
            .all(|(p, w)| !p.is_empty() && (*w == "*" || p == w))
}

/// `HOST/PROJECT/REPOSITORY` of an Artifact Registry (or any registry path): lowercase
/// segments, the host with a dot.
pub(crate) fn is_registry_path(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() >= 2
        && parts.first().is_some_and(|h| h.contains('.'))
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-._:".contains(&c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammars_take_what_workflows_need_and_nothing_else() {
        assert!(is_name("shop-api") && is_name("a.b_c") && !is_name("-a") && !is_name("A"));
        assert!(!is_name("a--b") && !is_name("a.-b"));
        assert!(is_platform("linux/amd64") && is_platform("linux/arm/v7"));
        assert!(!is_platform("linux") && !is_platform("linux/amd64 ") && !is_platform("Linux/x"));
        assert!(is_relative_path("services/api") && !is_relative_path("../x"));
        assert!(!is_relative_path("/abs") && !is_relative_path("a b"));
        assert!(!is_inert("${{ github.event.issue.title }}") && !is_inert("a\nb"));
        assert!(is_https_url("https://broker.example.com/x") && !is_https_url("http://x"));
        assert!(!is_https_url("https://user@evil.example"));
        assert!(matches_path(
            "projects/p/topics/t",
            &["projects", "*", "topics", "*"]
        ));
        assert!(!matches_path(
            "projects/p/topics",
            &["projects", "*", "topics", "*"]
        ));
        assert!(is_registry_path("europe-west1-docker.pkg.dev/p/containers"));
        assert!(!is_registry_path("https://europe-west1-docker.pkg.dev/p"));
    }
}
