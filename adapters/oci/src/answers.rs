//! What registries answer, read without trusting them: authentication challenges, `Link`
//! headers, token answers, tag lists and digests. Pure functions over bytes and strings, so
//! the fuzz target `registry_answers` exercises exactly what the client runs.

use std::collections::BTreeMap;

use cd_ports::RegistryError;

/// A `WWW-Authenticate` challenge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lower case (`bearer`, `basic`).
    pub scheme: String,
    /// Its parameters by lower-case name (`realm`, `service`, `scope`).
    pub params: BTreeMap<String, String>,
}

/// Parses `Bearer realm="...",service="...",scope="..."`.
#[must_use]
pub fn parse_challenge(header: &str) -> Challenge {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut params = BTreeMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (
                    quoted.get(..end).unwrap_or_default(),
                    quoted.get(end + 1..).unwrap_or_default(),
                ),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (
                    after.get(..end).unwrap_or_default(),
                    after.get(end..).unwrap_or_default(),
                ),
                None => (after, ""),
            }
        };
        params.insert(key, value.to_string());
        rest = next.trim_start_matches([',', ' ']);
    }
    Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    }
}

/// The next page from a `Link: </v2/...>; rel="next"` header value, made absolute against
/// `base`. Only a link to the same registry is followed: a page naming another host would
/// send the registry's token there.
#[must_use]
pub fn next_page(link: &str, base: &str) -> Option<String> {
    let part = link.split(',').find(|p| p.contains("rel=\"next\""))?;
    let url = part
        .split(';')
        .next()?
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    if url.starts_with('/') {
        return Some(format!("{}{url}", base.trim_end_matches('/')));
    }
    let origin = |u: &str| -> Option<String> {
        let (scheme, rest) = u.split_once("://")?;
        let host = rest.split('/').next()?;
        Some(format!("{scheme}://{host}"))
    };
    (origin(url)? == origin(base)?).then(|| url.to_string())
}

/// The token of a token service's answer (`token`, or OAuth2's `access_token`).
///
/// # Errors
/// [`RegistryError::Denied`] when the answer is not JSON of that shape or holds no token.
pub fn token_answer(body: &[u8]) -> Result<String, RegistryError> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        token: Option<String>,
        access_token: Option<String>,
    }
    let answer: TokenResponse = serde_json::from_slice(body)
        .map_err(|e| RegistryError::Denied(format!("token response: {e}")))?;
    answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| RegistryError::Denied("token response without a token".into()))
}

/// The tags of a tag list page (`{"name": ..., "tags": [...]}`; `tags` may be null).
///
/// # Errors
/// [`RegistryError::Invalid`] when the page is not a tag list.
pub fn tag_list(body: &[u8]) -> Result<Vec<String>, RegistryError> {
    #[derive(serde::Deserialize)]
    struct TagList {
        tags: Option<Vec<String>>,
    }
    let list: TagList = serde_json::from_slice(body)
        .map_err(|e| RegistryError::Invalid(format!("tag list: {e}")))?;
    Ok(list.tags.unwrap_or_default())
}

/// A manifest digest a registry named (`Docker-Content-Digest`), checked: `sha256:` and 64
/// lower-case hex digits. A digest is later sent back in a URL, so nothing else is let through.
///
/// # Errors
/// [`RegistryError::Invalid`] naming the value.
pub fn digest(value: &str) -> Result<String, RegistryError> {
    let hex = value.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(value.to_string())
    } else {
        Err(RegistryError::Invalid(format!(
            "'{}' is not a sha256 digest",
            value.escape_debug()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.example/token");
        assert_eq!(c.params["service"], "registry.example");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
        let c = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params["realm"], "Registry Realm");
        assert_eq!(parse_challenge("").scheme, "");
    }

    #[test]
    fn follows_next_links_on_the_same_registry_only() {
        assert_eq!(
            next_page(
                "</v2/app/tags/list?last=t-099&n=100>; rel=\"next\"",
                "http://r:5000/"
            )
            .as_deref(),
            Some("http://r:5000/v2/app/tags/list?last=t-099&n=100")
        );
        assert_eq!(
            next_page("<https://r/v2/x?last=a>; rel=\"next\"", "https://r").as_deref(),
            Some("https://r/v2/x?last=a")
        );
        assert_eq!(
            next_page("<https://elsewhere/v2/x>; rel=\"next\"", "https://r"),
            None
        );
        assert_eq!(next_page("", "x"), None);
    }

    #[test]
    fn reads_token_answers_tag_lists_and_digests() {
        assert_eq!(token_answer(br#"{"token":"t"}"#).unwrap(), "t");
        assert_eq!(token_answer(br#"{"access_token":"a"}"#).unwrap(), "a");
        assert!(token_answer(br#"{"token":""}"#).is_err());
        assert!(token_answer(b"<html>").is_err());
        assert_eq!(
            tag_list(br#"{"name":"a","tags":null}"#).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(tag_list(br#"{"tags":["v1"]}"#).unwrap(), ["v1"]);
        assert!(tag_list(br#"{"tags":[1]}"#).is_err());
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(digest(&d).unwrap(), d);
        assert!(digest("sha256:xyz").is_err());
        assert!(digest(&format!("sha256:{}/../x", "a".repeat(60))).is_err());
    }
}
