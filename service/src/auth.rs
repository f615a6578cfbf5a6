//! Who is calling: the engine and CI prove possession of the shared secret (HMAC-SHA256 of the
//! body) or present an OIDC token; operators are named by their OIDC token, or in local mode by
//! a header the configuration chose to trust. Never by the request body.

use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use sha2::Sha256;

use crate::config::OidcConfig;

/// The header carrying the body's HMAC.
pub const SIGNATURE_HEADER: &str = "x-infrastream-signature";

/// `sha256=<hex>` of `body` under `secret`: what senders put in [`SIGNATURE_HEADER`].
#[must_use]
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is a valid signature of `body` (compared in constant time).
#[must_use]
pub fn verify(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Verifies bearer tokens of one pinned issuer.
#[derive(Debug)]
pub struct OidcVerifier {
    config: OidcConfig,
    client: reqwest::Client,
    keys: tokio::sync::Mutex<Option<(Instant, JwkSet)>>,
}

/// Issuers known to publish their keys on another origin of their own.
const KNOWN_KEY_ORIGINS: &[(&str, &str)] =
    &[("https://accounts.google.com", "https://www.googleapis.com")];

/// How long fetched keys are used before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(300);
/// An unknown key id refetches the keys at most this often.
const REFETCH_AFTER: Duration = Duration::from_secs(30);

fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url
        .get(after_scheme..)
        .and_then(|rest| rest.find('/'))
        .map_or(url.len(), |i| after_scheme + i);
    url.get(..end).unwrap_or(url)
}

impl OidcVerifier {
    /// A verifier for `config` (keys are fetched on first use).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(config: OidcConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(OidcVerifier {
            config,
            client,
            keys: tokio::sync::Mutex::new(None),
        })
    }

    async fn fetch_keys(&self) -> Result<JwkSet, String> {
        let issuer = self.config.issuer.trim_end_matches('/');
        let discovery: serde_json::Value = self
            .client
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("OIDC discovery: {e}"))?
            .json()
            .await
            .map_err(|e| format!("OIDC discovery: {e}"))?;
        if discovery
            .get("issuer")
            .and_then(|v| v.as_str())
            .map(|s| s.trim_end_matches('/'))
            != Some(issuer)
        {
            return Err("OIDC discovery: the document names another issuer".into());
        }
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or("OIDC discovery: no jwks_uri")?;
        // Keys come from the pinned issuer's origin (or origins configured or known for it):
        // a discovery document pointing anywhere else is refused rather than trusted.
        let allowed = origin(jwks_uri) == origin(issuer)
            || self
                .config
                .jwks_origins
                .iter()
                .any(|o| origin(o) == origin(jwks_uri))
            || KNOWN_KEY_ORIGINS
                .iter()
                .any(|(i, k)| origin(issuer) == *i && origin(jwks_uri) == *k);
        if !allowed {
            return Err(format!(
                "OIDC discovery: jwks_uri {jwks_uri} is not on {issuer} (add its origin to auth.oidc.jwks_origins if the issuer owns it)"
            ));
        }
        self.client
            .get(jwks_uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("OIDC keys: {e}"))?
            .json::<JwkSet>()
            .await
            .map_err(|e| format!("OIDC keys: {e}"))
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, String> {
        let mut cache = self.keys.lock().await;
        let stale = cache.as_ref().is_none_or(|(at, set)| {
            at.elapsed() > KEYS_TTL || (set.find(kid).is_none() && at.elapsed() > REFETCH_AFTER)
        });
        if stale {
            match self.fetch_keys().await {
                Ok(set) => *cache = Some((Instant::now(), set)),
                // The issuer is unreachable: keep using the keys we have rather than lock
                // everyone out; try again after REFETCH_AFTER.
                Err(e) => match cache.as_mut() {
                    Some((at, _)) => {
                        tracing::warn!(error = %e, "cannot refresh the OIDC keys; using the cached ones");
                        *at = Instant::now()
                            .checked_sub(KEYS_TTL.saturating_sub(REFETCH_AFTER))
                            .unwrap_or_else(Instant::now);
                    }
                    None => return Err(e),
                },
            }
        }
        let jwk = cache
            .as_ref()
            .and_then(|(_, set)| set.find(kid))
            .ok_or_else(|| format!("no key '{kid}' at the issuer"))?;
        DecodingKey::from_jwk(jwk).map_err(|e| format!("key '{kid}': {e}"))
    }

    /// Verifies `token` (signature, and the presence and values of `iss`, `aud` and `exp`) and
    /// returns its claims.
    async fn claims(
        &self,
        token: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        let header = decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::EdDSA
        ) {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let kid = header.kid.ok_or("the token names no key (kid)")?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.config.issuer.trim_end_matches('/')]);
        validation.set_audience(&[&self.config.audience]);
        // Absent claims must not pass: the library checks iss and aud only when present.
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| format!("token refused: {e}"))
    }

    /// A person's token: returns the actor claim.
    ///
    /// # Errors
    /// Why the token is refused.
    pub async fn person(&self, token: &str) -> Result<String, String> {
        let claims = self.claims(token).await?;
        let claim = &self.config.actor_claim;
        if claim == "email" && claims.get("email_verified") == Some(&serde_json::Value::Bool(false))
        {
            return Err("the token's email is not verified".into());
        }
        claims
            .get(claim)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("the token has no '{claim}' claim"))
    }

    /// A machine's token: its `sub` must be one of `machine_subjects`. Returns the subject.
    ///
    /// # Errors
    /// Why the token is refused.
    pub async fn machine(&self, token: &str) -> Result<String, String> {
        let claims = self.claims(token).await?;
        let sub = claims
            .get("sub")
            .and_then(|v| v.as_str())
            .ok_or("the token has no 'sub' claim")?;
        if self
            .config
            .machine_subjects
            .iter()
            .any(|p| subject_matches(p, sub))
        {
            Ok(sub.to_string())
        } else {
            Err(format!(
                "'{sub}' is not an allowed machine subject (auth.oidc.machine_subjects)"
            ))
        }
    }
}

/// `pattern` is an exact subject, or a prefix ending in `*`.
fn subject_matches(pattern: &str, sub: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => sub.starts_with(prefix),
        None => pattern == sub,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_the_same_body_and_secret() {
        let sig = sign(b"secret", b"{\"a\":1}");
        assert!(sig.starts_with("sha256="));
        assert!(verify(b"secret", &sig, b"{\"a\":1}"));
        assert!(!verify(b"secret", &sig, b"{\"a\":2}"));
        assert!(!verify(b"other", &sig, b"{\"a\":1}"));
        assert!(!verify(
            b"secret",
            sig.trim_start_matches("sha256="),
            b"{\"a\":1}"
        ));
        assert!(!verify(b"secret", "sha256=zz", b"{\"a\":1}"));
    }

    #[test]
    fn machine_subjects_match_exactly_or_by_prefix() {
        assert!(subject_matches(
            "repo:northwind/shop:*",
            "repo:northwind/shop:ref:refs/heads/main"
        ));
        assert!(!subject_matches(
            "repo:northwind/shop:*",
            "repo:northwind/shopping:ref"
        ));
        assert!(subject_matches(
            "engine@p.iam.gserviceaccount.com",
            "engine@p.iam.gserviceaccount.com"
        ));
        assert!(!subject_matches("engine", "engine2"));
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(origin("https://a.example/x/y"), "https://a.example");
        assert_eq!(origin("http://127.0.0.1:9/k"), "http://127.0.0.1:9");
        assert_ne!(
            origin("https://a.example.evil/k"),
            origin("https://a.example")
        );
    }
}
