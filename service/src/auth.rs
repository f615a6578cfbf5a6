//! Who is calling: the engine and CI prove possession of the shared secret (HMAC-SHA256 of the
//! body) or present an OIDC token; operators are named by their OIDC token, or in local mode by
//! a header the configuration chose to trust. Never by the request body.

use hmac::{Hmac, KeyInit, Mac};
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

/// The MAC a signature header carries (`sha256=` and 64 hex digits), or `None` when the
/// header is not of that form: checked before the body is read, so a malformed credential is
/// refused without reading what it claims to sign.
#[must_use]
pub fn parse_signature(header: &str) -> Option<[u8; 32]> {
    let hex_sig = header.trim().strip_prefix("sha256=")?;
    let mut sig = [0u8; 32];
    hex::decode_to_slice(hex_sig, &mut sig).ok()?;
    Some(sig)
}

/// Whether `header` is a valid signature of `body` (compared in constant time).
#[must_use]
pub fn verify(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let Some(sig) = parse_signature(header) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Verifies bearer tokens of one pinned issuer (the checks are `cd-oidc`'s) and reads who they
/// name.
#[derive(Debug)]
pub struct OidcVerifier {
    config: OidcConfig,
    verifier: cd_oidc::Verifier,
}

/// The asymmetric algorithms people's and machines' issuers sign with; never HMAC or `none`.
pub(crate) const ALGORITHMS: &[cd_oidc::Algorithm] = &[
    cd_oidc::Algorithm::RS256,
    cd_oidc::Algorithm::RS384,
    cd_oidc::Algorithm::RS512,
    cd_oidc::Algorithm::PS256,
    cd_oidc::Algorithm::PS384,
    cd_oidc::Algorithm::PS512,
    cd_oidc::Algorithm::ES256,
    cd_oidc::Algorithm::ES384,
    cd_oidc::Algorithm::EdDSA,
];

impl OidcVerifier {
    /// A verifier for `config` (keys are fetched on first use).
    ///
    /// # Errors
    /// When the issuer or a key origin is not an acceptable URL, or no HTTP client can be built.
    pub fn new(config: OidcConfig) -> Result<Self, String> {
        let verifier = cd_oidc::Verifier::new(cd_oidc::IssuerConfig {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            algorithms: ALGORITHMS.to_vec(),
            jwks_origins: config.jwks_origins.clone(),
            schedule: cd_oidc::Schedule::default(),
        })
        .map_err(|e| format!("auth.oidc: {e}"))?;
        Ok(OidcVerifier { config, verifier })
    }

    async fn claims(
        &self,
        token: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        self.verifier
            .verify(token)
            .await
            .map(|v| v.claims)
            .map_err(|e| format!("token refused: {e}"))
    }

    /// A person's token: returns the actor claim.
    ///
    /// # Errors
    /// Why the token is refused.
    pub async fn person(&self, token: &str) -> Result<String, String> {
        let claims = self.claims(token).await?;
        person_in(&claims, &self.config.actor_claim)
    }

    /// A machine's token: its `sub` must be one of `machine_subjects`. Returns the subject.
    ///
    /// # Errors
    /// Why the token is refused.
    pub async fn machine(&self, token: &str) -> Result<String, String> {
        let claims = self.claims(token).await?;
        self.machine_in(&claims)
    }

    /// Who reads with `token`, verified once: a machine when its `sub` is an allowed machine
    /// subject, else the person its actor claim names.
    ///
    /// # Errors
    /// Why the token is refused.
    pub async fn reader(&self, token: &str) -> Result<Caller, String> {
        let claims = self.claims(token).await?;
        match self.machine_in(&claims) {
            Ok(sub) => Ok(Caller::Machine(sub)),
            Err(_) => person_in(&claims, &self.config.actor_claim).map(Caller::Person),
        }
    }

    fn machine_in(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, String> {
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

/// Who a verified token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// An allowed machine subject.
    Machine(String),
    /// A person, by the actor claim.
    Person(String),
}

/// The person a verified token's `claims` name in `claim`: what bearer tokens and the Portal's
/// ID tokens are both read by. An `email` the issuer marks unverified is refused.
///
/// # Errors
/// Why no person is named.
pub(crate) fn person_in(
    claims: &serde_json::Map<String, serde_json::Value>,
    claim: &str,
) -> Result<String, String> {
    if claim == "email" && claims.get("email_verified") == Some(&serde_json::Value::Bool(false)) {
        return Err("the token's email is not verified".into());
    }
    claims
        .get(claim)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("the token has no '{claim}' claim"))
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
}
