//! The pinned issuer's signing keys: found through its discovery document, cached, and fetched
//! again on a schedule no token can speed up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};
use url::Url;

use crate::OidcError;

/// Keys are fetched again after this long, whatever the tokens say.
const KEYS_TTL: Duration = Duration::from_secs(300);
/// A token naming a key we do not have refreshes the keys at most this often: a flood of
/// made-up `kid`s costs the issuer one fetch a minute.
const REFRESH_FOR_UNKNOWN_KEY: Duration = Duration::from_secs(60);
/// After a failed fetch with nothing cached, wait this long before trying again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Discovery documents and key sets larger than this are refused.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

struct Cached {
    at: Instant,
    set: JwkSet,
}

/// The keys of one issuer.
pub(crate) struct KeyCache {
    http: reqwest::Client,
    issuer: String,
    discovery: Url,
    /// Origins allowed to serve `jwks_uri`: the issuer's own, and those configured for it.
    key_origins: Vec<url::Origin>,
    keys: RwLock<Option<Cached>>,
    /// When the last fetch was attempted; held while fetching, so concurrent refreshes wait
    /// for one fetch instead of making their own.
    last_attempt: Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

async fn read_limited(response: reqwest::Response, what: &str) -> Result<Vec<u8>, OidcError> {
    let mut response = response
        .error_for_status()
        .map_err(|e| OidcError::Unavailable(format!("{what}: {e}")))?;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| OidcError::Unavailable(format!("{what}: {e}")))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(OidcError::Unavailable(format!(
                "{what}: larger than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl KeyCache {
    pub(crate) fn new(
        http: reqwest::Client,
        issuer: &str,
        issuer_url: &Url,
        key_origins: &[Url],
    ) -> Result<KeyCache, OidcError> {
        let base = issuer.trim_end_matches('/');
        let discovery = Url::parse(&format!("{base}/.well-known/openid-configuration"))
            .map_err(|e| OidcError::Unavailable(format!("the issuer's discovery URL: {e}")))?;
        let mut origins = vec![issuer_url.origin()];
        origins.extend(key_origins.iter().map(Url::origin));
        Ok(KeyCache {
            http,
            issuer: issuer.to_string(),
            discovery,
            key_origins: origins,
            keys: RwLock::new(None),
            last_attempt: Mutex::new(None),
            fetches: AtomicU64::new(0),
        })
    }

    /// How many times the discovery document was fetched (each fetch of the keys is one).
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    async fn fetch(&self) -> Result<JwkSet, OidcError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http
            .get(self.discovery.clone())
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("OIDC discovery: {e}")))?;
        let doc: Discovery =
            serde_json::from_slice(&read_limited(response, "OIDC discovery").await?)
                .map_err(|e| OidcError::Unavailable(format!("OIDC discovery: {e}")))?;
        if doc.issuer != self.issuer {
            return Err(OidcError::Unavailable(format!(
                "OIDC discovery: the document names another issuer ('{}')",
                doc.issuer
            )));
        }
        let jwks = Url::parse(&doc.jwks_uri).map_err(|_| {
            OidcError::Unavailable(format!(
                "OIDC discovery: jwks_uri '{}' is not a URL",
                doc.jwks_uri
            ))
        })?;
        // The keys must come from the issuer itself: a discovery document pointing anywhere
        // else is refused rather than followed.
        if !self.key_origins.contains(&jwks.origin()) {
            return Err(OidcError::Unavailable(format!(
                "OIDC discovery: jwks_uri {jwks} is not on {} (add its origin to jwks_origins if the issuer owns it)",
                self.issuer
            )));
        }
        let response = self
            .http
            .get(jwks)
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("OIDC keys: {e}")))?;
        serde_json::from_slice(&read_limited(response, "OIDC keys").await?)
            .map_err(|e| OidcError::Unavailable(format!("OIDC keys: {e}")))
    }

    fn lookup(cached: Option<&Cached>, kid: &str, fresh_only: bool) -> Option<Jwk> {
        cached
            .filter(|c| !fresh_only || c.at.elapsed() < KEYS_TTL)
            .and_then(|c| c.set.find(kid).cloned())
    }

    /// The key `kid`, fetching the issuer's keys when they are stale or, at most once a
    /// minute, when `kid` is not among them.
    pub(crate) async fn key(&self, kid: &str) -> Result<Jwk, OidcError> {
        if let Some(jwk) = Self::lookup(self.keys.read().await.as_ref(), kid, true) {
            return Ok(jwk);
        }
        let mut last_attempt = self.last_attempt.lock().await;
        // Another request may have refreshed while this one waited.
        let (have_any, stale) = {
            let keys = self.keys.read().await;
            if let Some(jwk) = Self::lookup(keys.as_ref(), kid, true) {
                return Ok(jwk);
            }
            (
                keys.is_some(),
                keys.as_ref().is_none_or(|c| c.at.elapsed() >= KEYS_TTL),
            )
        };
        let since = last_attempt.map(|at| at.elapsed());
        let due = match since {
            None => true,
            Some(since) if !have_any => since >= RETRY_AFTER_FAILURE,
            Some(since) if stale => since >= RETRY_AFTER_FAILURE,
            Some(since) => since >= REFRESH_FOR_UNKNOWN_KEY,
        };
        if due {
            *last_attempt = Some(Instant::now());
            match self.fetch().await {
                Ok(set) => {
                    *self.keys.write().await = Some(Cached {
                        at: Instant::now(),
                        set,
                    });
                }
                Err(e) if have_any => {
                    // The issuer is unreachable: the keys we have stay good rather than lock
                    // everyone out; the next attempt waits RETRY_AFTER_FAILURE.
                    tracing::warn!(error = %e, "cannot refresh the OIDC keys; using the cached ones");
                }
                Err(e) => return Err(e),
            }
        } else if !have_any {
            return Err(OidcError::Unavailable(
                "the issuer's keys could not be fetched; retrying shortly".into(),
            ));
        }
        Self::lookup(self.keys.read().await.as_ref(), kid, false)
            .ok_or_else(|| OidcError::UnknownKey(kid.to_string()))
    }
}
