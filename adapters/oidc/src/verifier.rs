//! The verifier: the order of the checks, and the one place a token meets a key.

use std::str::FromStr as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use std::sync::Arc;

use crate::keys::{KeyCache, Schedule};
use crate::{OidcError, Standard, Unverified, checked_endpoint};

/// One issuer and what its tokens must say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerConfig {
    /// The issuer, exactly as it writes `iss` (https; http only on loopback).
    pub issuer: String,
    /// The audience tokens must carry, exactly.
    pub audience: String,
    /// The signature algorithms accepted (asymmetric ones only).
    pub algorithms: Vec<Algorithm>,
    /// Origins besides the issuer's own that may serve its keys.
    pub jwks_origins: Vec<String>,
    /// When the issuer's keys are fetched ([`Schedule::default`]: refreshed after 5 minutes,
    /// at most once a minute, every 5 s while there are none).
    pub schedule: Schedule,
}

/// A verified token: its registered claims and all of its claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// `iss`, `aud`, `sub` and the times, checked.
    pub standard: Standard,
    /// Every claim, as signed.
    pub claims: Map<String, Value>,
}

/// Verifies tokens of one pinned issuer.
pub struct Verifier {
    config: IssuerConfig,
    keys: Arc<KeyCache>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.config.issuer)
            .field("audience", &self.config.audience)
            .finish_non_exhaustive()
    }
}

/// Issuers known to publish their keys on another origin of their own.
const KNOWN_KEY_ORIGINS: &[(&str, &str)] =
    &[("https://accounts.google.com", "https://www.googleapis.com")];

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Whether `jwk` may verify `alg`: a signing key of the algorithm's family, not a shared
/// secret, and, when it names an algorithm, that one.
fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::EllipticCurve(_) => matches!(alg, Algorithm::ES256 | Algorithm::ES384),
        AlgorithmParameters::OctetKeyPair(_) => alg == Algorithm::EdDSA,
        AlgorithmParameters::OctetKey(_) => false,
    };
    let named = jwk
        .common
        .key_algorithm
        .is_none_or(|k| k.to_string() == format!("{alg:?}"));
    let usable = !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption));
    family && named && usable
}

impl Verifier {
    /// A verifier for `config`; keys are fetched on first use.
    ///
    /// # Errors
    /// [`OidcError::Unavailable`] naming the setting at fault: an issuer or key origin that is
    /// not https (or http on loopback), no algorithms, or an HMAC algorithm.
    pub fn new(config: IssuerConfig) -> Result<Verifier, OidcError> {
        let bad = |m: String| OidcError::Unavailable(m);
        let issuer = checked_endpoint(&config.issuer).map_err(|e| bad(format!("issuer: {e}")))?;
        if config.algorithms.is_empty() {
            return Err(bad("no signature algorithm is accepted".into()));
        }
        if let Some(alg) = config.algorithms.iter().find(|a| is_hmac(**a)) {
            return Err(bad(format!(
                "{alg:?} is a shared-secret algorithm; an issuer's tokens are verified with its public keys"
            )));
        }
        let mut origins = Vec::new();
        for o in &config.jwks_origins {
            origins.push(checked_endpoint(o).map_err(|e| bad(format!("jwks_origins: {e}")))?);
        }
        for (i, k) in KNOWN_KEY_ORIGINS {
            if config.issuer.trim_end_matches('/') == *i {
                origins.extend(url::Url::parse(k).ok());
            }
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // A redirect is a fetch somewhere else: the issuer's documents are read where the
            // issuer is, or not at all.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("infrastream-cd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(format!("HTTP client: {e}")))?;
        let keys = Arc::new(KeyCache::new(
            http,
            &config.issuer,
            &issuer,
            &origins,
            config.schedule,
        )?);
        Ok(Verifier { config, keys })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    /// How many times the issuer's keys were fetched (each a discovery document and a JWKS).
    #[must_use]
    pub fn key_fetches(&self) -> u64 {
        self.keys.fetches()
    }

    /// Verifies `token` now.
    ///
    /// # Errors
    /// The first check that fails: see [`Verifier::verify_at`].
    pub async fn verify(&self, token: &str) -> Result<Verified, OidcError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.verify_at(token, now).await
    }

    /// Verifies `token` at `now` (seconds since the epoch). In order: its size and shape, its
    /// algorithm, its issuer (nothing is fetched for a token of another issuer), its key id,
    /// the key (from the pinned issuer only), the signature, then the registered claims.
    ///
    /// # Errors
    /// [`OidcError`] naming the first rule that fails.
    pub async fn verify_at(&self, token: &str, now: i64) -> Result<Verified, OidcError> {
        let unverified = Unverified::parse(token)?;
        let alg = Algorithm::from_str(&unverified.alg)
            .ok()
            .filter(|a| self.config.algorithms.contains(a))
            .ok_or_else(|| OidcError::Algorithm(unverified.alg.clone()))?;
        match unverified.iss {
            Some(iss) if iss == self.config.issuer => {}
            Some(found) => return Err(OidcError::Issuer { found }),
            None => {
                return Err(OidcError::Claim {
                    claim: "iss",
                    problem: "is missing".into(),
                });
            }
        }
        let kid = unverified.kid.ok_or(OidcError::NoKeyId)?;
        let jwk = self.keys.key(&kid).await?;
        if !key_fits(&jwk, alg) {
            return Err(OidcError::UnknownKey(kid));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| OidcError::UnknownKey(kid))?;
        // The library checks the signature only; the claims are checked below, against the
        // clock given, with the rules of this crate.
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    OidcError::Signature("not made by the issuer's key".into())
                }
                _ => OidcError::Malformed(e.to_string()),
            })?
            .claims;
        let standard = Standard::check(&claims, &self.config.issuer, &self.config.audience, now)?;
        Ok(Verified { standard, claims })
    }
}
