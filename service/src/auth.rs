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
        // Keys come from the pinned issuer's origin only: a discovery document pointing
        // elsewhere is refused rather than trusted.
        if origin(jwks_uri) != origin(issuer) {
            return Err(format!(
                "OIDC discovery: jwks_uri {jwks_uri} is not on {issuer}"
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
            *cache = Some((Instant::now(), self.fetch_keys().await?));
        }
        let jwk = cache
            .as_ref()
            .and_then(|(_, set)| set.find(kid))
            .ok_or_else(|| format!("no key '{kid}' at the issuer"))?;
        DecodingKey::from_jwk(jwk).map_err(|e| format!("key '{kid}': {e}"))
    }

    /// Verifies `token` (signature, issuer, audience, expiry) and returns the actor claim.
    ///
    /// # Errors
    /// Why the token is refused.
    pub async fn verify(&self, token: &str) -> Result<String, String> {
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
        let data = decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &validation)
            .map_err(|e| format!("token refused: {e}"))?;
        data.claims
            .get(&self.config.actor_claim)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("the token has no '{}' claim", self.config.actor_claim))
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
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(origin("https://a.example/x/y"), "https://a.example");
        assert_eq!(origin("http://127.0.0.1:9/k"), "http://127.0.0.1:9");
        assert_ne!(
            origin("https://a.example.evil/k"),
            origin("https://a.example")
        );
    }
}
