//! Sessions and CSRF tokens: a signed, short-lived cookie naming the person, and a token bound
//! to that session that every state-changing form carries.
//!
//! The cookie holds `v1.session.<person>.<nonce>.<expiry ms>.<mac>` (the parts base64url):
//! nothing is kept on the server, so any replica reads any session. The key is derived from the
//! session key file the replicas share (`auth.session_key_file`), never from the webhook secret:
//! CI and engines hold that one, and whoever holds the key can sign anyone in. A CSRF token is
//! the HMAC of the session's nonce under the same key: a page of another origin can neither read
//! it nor compute it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cd_core::pipeline::Timestamp;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The cookie's name. `__Host-` makes browsers insist on `Secure`, `Path=/` and no `Domain`:
/// a sibling subdomain cannot plant a session.
pub(crate) const COOKIE: &str = "__Host-infrastream-session";

/// How long a session lasts: short, so a lost laptop's session ends soon; signing in again
/// is one step.
pub(crate) const LIFETIME_MS: i64 = 60 * 60 * 1000;

/// A verified session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    /// Who, as they signed in.
    pub(crate) person: String,
    /// When it ends.
    pub(crate) expires: Timestamp,
    /// Its random id, which its CSRF token is bound to.
    pub(crate) nonce: String,
}

/// Signs and verifies sessions under a key derived from the service's secret.
#[derive(Clone)]
pub(crate) struct Sessions {
    key: Vec<u8>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions { key: <redacted> }")
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
    for part in parts {
        mac.update(part);
    }
    mac
}

impl Sessions {
    /// Sessions keyed by `secret` (the session key file's content).
    pub(crate) fn new(secret: &[u8]) -> Self {
        let key = mac(secret, &[b"infrastream portal sessions v1"])
            .finalize()
            .into_bytes()
            .to_vec();
        Sessions { key }
    }

    /// `parts` sealed as a `kind` until `expires`: `v1.<kind>.<parts, base64url>....<expiry>.<mac>`.
    /// The MAC covers the kind, so a value sealed as one kind never opens as another.
    pub(crate) fn seal(&self, kind: &str, parts: &[&str], expires: Timestamp) -> String {
        let mut body = format!("v1.{kind}");
        for part in parts {
            body.push('.');
            body.push_str(&URL_SAFE_NO_PAD.encode(part));
        }
        body.push_str(&format!(".{}", expires.0));
        let tag = hex::encode(mac(&self.key, &[body.as_bytes()]).finalize().into_bytes());
        format!("{body}.{tag}")
    }

    /// The `n` parts of a `kind` that `value` seals, when its MAC holds and it has not expired
    /// at `now`.
    pub(crate) fn open(
        &self,
        kind: &str,
        n: usize,
        value: &str,
        now: Timestamp,
    ) -> Option<(Vec<String>, Timestamp)> {
        let (body, tag) = value.rsplit_once('.')?;
        let mut expected = [0u8; 32];
        hex::decode_to_slice(tag, &mut expected).ok()?;
        // Constant-time comparison: a forger learns nothing from the time it takes.
        mac(&self.key, &[body.as_bytes()])
            .verify_slice(&expected)
            .ok()?;
        let fields: Vec<&str> = body.split('.').collect();
        let (head, rest) = fields.split_at_checked(2)?;
        if head != ["v1", kind] || rest.len() != n + 1 {
            return None;
        }
        let (encoded, expiry) = rest.split_at(n);
        let expires = Timestamp(expiry.first()?.parse().ok()?);
        if now >= expires {
            return None;
        }
        let parts = encoded
            .iter()
            .map(|p| String::from_utf8(URL_SAFE_NO_PAD.decode(p).ok()?).ok())
            .collect::<Option<Vec<String>>>()?;
        Some((parts, expires))
    }

    /// A new session for `person`, from `now`, with a random `nonce`: the cookie's value.
    pub(crate) fn issue(&self, person: &str, now: Timestamp, nonce: &[u8; 16]) -> String {
        self.seal(
            "session",
            &[person, &hex::encode(nonce)],
            now.plus_ms(LIFETIME_MS),
        )
    }

    /// The session `value` carries, when its signature holds and it has not expired at `now`.
    pub(crate) fn verify(&self, value: &str, now: Timestamp) -> Option<Session> {
        let (parts, expires) = self.open("session", 2, value, now)?;
        let [person, nonce]: [String; 2] = parts.try_into().ok()?;
        if person.is_empty() {
            return None;
        }
        Some(Session {
            person,
            expires,
            nonce,
        })
    }

    /// The CSRF token of `session`.
    pub(crate) fn csrf(&self, session: &Session) -> String {
        hex::encode(
            mac(&self.key, &[b"csrf.", session.nonce.as_bytes()])
                .finalize()
                .into_bytes(),
        )
    }

    /// Whether `token` is `session`'s CSRF token (compared in constant time).
    pub(crate) fn csrf_holds(&self, session: &Session, token: &str) -> bool {
        let mut given = [0u8; 32];
        if hex::decode_to_slice(token.trim(), &mut given).is_err() {
            return false;
        }
        mac(&self.key, &[b"csrf.", session.nonce.as_bytes()])
            .verify_slice(&given)
            .is_ok()
    }
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`).
pub(crate) fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// A `Set-Cookie` value for cookie `name` holding `value` for `max_age_secs` (0 ends it): every
/// Portal cookie is `HttpOnly`, `Secure`, `SameSite=Lax` and for the whole site.
pub(crate) fn cookie_header(name: &str, value: &str, max_age_secs: i64) -> String {
    format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age_secs}")
}

/// The `Set-Cookie` value that stores `value` for the session's lifetime.
pub(crate) fn set_cookie(value: &str) -> String {
    cookie_header(COOKIE, value, LIFETIME_MS / 1000)
}

/// The `Set-Cookie` value that ends the session.
pub(crate) fn clear_cookie() -> String {
    cookie_header(COOKIE, "", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: [u8; 16] = [7; 16];

    #[test]
    fn a_session_verifies_until_it_expires_and_only_unaltered() {
        let s = Sessions::new(b"secret");
        let value = s.issue("jane@northwind.example", Timestamp(1_000), &NONCE);
        let session = s.verify(&value, Timestamp(2_000)).unwrap();
        assert_eq!(session.person, "jane@northwind.example");
        assert_eq!(session.expires, Timestamp(1_000 + LIFETIME_MS));
        assert_eq!(s.verify(&value, session.expires), None, "expired");
        // Another key, a changed person, a changed expiry, a truncated tag: refused.
        assert_eq!(
            Sessions::new(b"other").verify(&value, Timestamp(2_000)),
            None
        );
        let forged = value.replacen(
            &URL_SAFE_NO_PAD.encode("jane@northwind.example"),
            &URL_SAFE_NO_PAD.encode("omar"),
            1,
        );
        assert_eq!(s.verify(&forged, Timestamp(2_000)), None);
        let later = value.replacen(
            &(1_000 + LIFETIME_MS).to_string(),
            &(9_000 + LIFETIME_MS).to_string(),
            1,
        );
        assert_eq!(s.verify(&later, Timestamp(2_000)), None);
        assert_eq!(s.verify(&value[..value.len() - 2], Timestamp(2_000)), None);
        for junk in ["", ".", "v1", "v1....", "a.b.c.d.e.f"] {
            assert_eq!(s.verify(junk, Timestamp(0)), None, "{junk:?}");
        }
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let s = Sessions::new(b"secret");
        let one = s
            .verify(&s.issue("jane", Timestamp(0), &NONCE), Timestamp(1))
            .unwrap();
        let two = s
            .verify(&s.issue("jane", Timestamp(0), &[8; 16]), Timestamp(1))
            .unwrap();
        let token = s.csrf(&one);
        assert!(s.csrf_holds(&one, &token));
        assert!(!s.csrf_holds(&two, &token), "another session's token");
        assert!(!s.csrf_holds(&one, ""));
        assert!(!s.csrf_holds(&one, "zz"));
    }

    #[test]
    fn a_sealed_value_opens_only_as_its_own_kind() {
        let s = Sessions::new(b"secret");
        // A sign-in's value with as many parts as a session still does not open as one.
        let login = s.seal("login", &["jane", "00"], Timestamp(10));
        assert!(s.open("login", 2, &login, Timestamp(1)).is_some());
        assert_eq!(s.verify(&login, Timestamp(1)), None);
        let session = s.issue("jane", Timestamp(0), &NONCE);
        assert_eq!(s.open("login", 2, &session, Timestamp(1)), None);
        // The wrong number of parts for the kind: nothing.
        assert_eq!(s.open("login", 3, &login, Timestamp(1)), None);
    }

    #[test]
    fn cookies_are_read_by_name() {
        assert_eq!(cookie("a=1; b=2", "b"), Some("2"));
        assert_eq!(cookie("a=1;b=2", "a"), Some("1"));
        assert_eq!(cookie("ab=1", "a"), None);
        assert!(set_cookie("x").contains("HttpOnly; Secure; SameSite=Lax"));
    }
}
