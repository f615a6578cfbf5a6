//! A compact JWS, parsed but not verified: just enough to decide whether it is worth verifying.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::OidcError;

/// Tokens longer than this are refused unread (GitHub's are about 1.5 KiB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The header fields this verifier reads. `jku`, `x5u`, `jwk` and `x5c` are deliberately not
/// among them: keys come from the pinned issuer only.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Peek {
    iss: Option<serde_json::Value>,
}

/// A token whose shape was checked and whose signature was not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unverified {
    /// `alg` of the header, as written.
    pub alg: String,
    /// `kid` of the header.
    pub kid: Option<String>,
    /// `iss` of the payload, when it is a string.
    pub iss: Option<String>,
}

fn part(segment: &str, what: &str) -> Result<Vec<u8>, OidcError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| OidcError::Malformed(format!("the {what} is not base64url")))
}

impl Unverified {
    /// Parses `token` (`header.payload.signature`, base64url without padding).
    ///
    /// # Errors
    /// [`OidcError::TooLarge`], [`OidcError::Malformed`] or [`OidcError::Critical`].
    pub fn parse(token: &str) -> Result<Unverified, OidcError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(OidcError::TooLarge {
                limit: MAX_TOKEN_BYTES,
            });
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(OidcError::Malformed("not three dot-separated parts".into()));
        };
        if signature.is_empty() {
            return Err(OidcError::Malformed("the signature is empty".into()));
        }
        part(signature, "signature")?;
        let header: Header = serde_json::from_slice(&part(header, "header")?)
            .map_err(|e| OidcError::Malformed(format!("the header: {e}")))?;
        if let Some(crit) = header.crit {
            return Err(OidcError::Critical(crit.to_string()));
        }
        let peek: Peek = serde_json::from_slice(&part(payload, "payload")?)
            .map_err(|e| OidcError::Malformed(format!("the payload: {e}")))?;
        Ok(Unverified {
            alg: header.alg,
            kid: header.kid,
            iss: peek.iss.and_then(|v| v.as_str().map(str::to_string)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn reads_alg_kid_and_issuer_only() {
        let t = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","kid":"k1","jku":"https://evil.example/keys"}"#),
            b64(r#"{"iss":"https://issuer.example","sub":"x"}"#),
            b64("sig")
        );
        assert_eq!(
            Unverified::parse(&t).unwrap(),
            Unverified {
                alg: "RS256".into(),
                kid: Some("k1".into()),
                iss: Some("https://issuer.example".into()),
            }
        );
    }

    #[test]
    fn refuses_what_is_not_a_compact_jws() {
        let h = b64(r#"{"alg":"RS256","kid":"k"}"#);
        let p = b64(r#"{"iss":"i"}"#);
        for (token, reason) in [
            ("".to_string(), "malformed"),
            ("a.b".into(), "malformed"),
            (format!("{h}.{p}"), "malformed"),
            (format!("{h}.{p}."), "malformed"),
            (format!("{h}.{p}.{}.x", b64("s")), "malformed"),
            (format!("{h}.{p}.***"), "malformed"),
            (format!("{}.{p}.{}", b64("[]"), b64("s")), "malformed"),
            (format!("{h}.{}.{}", b64("1"), b64("s")), "malformed"),
            (
                format!(
                    "{}.{p}.{}",
                    b64(r#"{"alg":"RS256","crit":["b64"]}"#),
                    b64("s")
                ),
                "critical_header",
            ),
            ("x".repeat(MAX_TOKEN_BYTES + 1), "too_large"),
        ] {
            assert_eq!(
                Unverified::parse(&token).map_err(|e| e.reason()),
                Err(reason),
                "{token:.60}"
            );
        }
    }
}
