//! The pinned issuer's signing keys: found through its discovery document, cached, and fetched
//! again on a schedule no token can speed up.
//!
//! - A known key is answered from the cache at once, even when the cache is old: an old cache
//!   starts one refresh in the background, and a slow or dead issuer never holds up requests
//!   whose key we have.
//! - An unknown `kid` waits for a refresh only when one is due: at most one fetch per
//!   [`Schedule::between_fetches`], whatever the number of tokens naming made-up keys.
//! - With no keys at all (start-up, or the issuer never answered), a fetch is tried at most
//!   every [`Schedule::retry_without_keys`].
//! - A fetch runs in a task of its own, holding the one refresh lock, so concurrent refreshes
//!   are one fetch, and a request that goes away does not cut a fetch short. The time of a
//!   fetch is recorded when it finishes, success or not.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};
use url::Url;

use crate::OidcError;

/// When the keys are fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Keys older than this are refreshed (in the background for known keys).
    pub max_age: Duration,
    /// At most one fetch per this interval while we hold keys (unknown `kid`s, old keys).
    pub between_fetches: Duration,
    /// At most one fetch per this interval while we hold no key at all.
    pub retry_without_keys: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            max_age: Duration::from_secs(300),
            between_fetches: Duration::from_secs(60),
            retry_without_keys: Duration::from_secs(5),
        }
    }
}

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
    schedule: Schedule,
    keys: RwLock<Option<Cached>>,
    /// The refresh lock; it holds when the last fetch finished.
    last_fetch: Mutex<Option<Instant>>,
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

/// Why a refresh is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    /// The cache is old; the key asked for is in it.
    Freshness,
    /// The key asked for is not in the cache.
    UnknownKey,
}

impl KeyCache {
    pub(crate) fn new(
        http: reqwest::Client,
        issuer: &str,
        issuer_url: &Url,
        key_origins: &[Url],
        schedule: Schedule,
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
            schedule,
            keys: RwLock::new(None),
            last_fetch: Mutex::new(None),
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

    /// Takes the refresh lock and fetches if a fetch is still due for `need`; returns the
    /// fetch's error when it made one and it failed with no keys to fall back on.
    async fn refresh(&self, need: Need) -> Result<(), OidcError> {
        let mut last_fetch = self.last_fetch.lock().await;
        let (have, old) = {
            let keys = self.keys.read().await;
            (
                keys.is_some(),
                keys.as_ref()
                    .is_none_or(|c| c.at.elapsed() >= self.schedule.max_age),
            )
        };
        let since = last_fetch.map(|at| at.elapsed());
        let due = match (have, since) {
            (_, None) => true,
            (false, Some(since)) => since >= self.schedule.retry_without_keys,
            (true, Some(since)) => {
                since >= self.schedule.between_fetches && (need == Need::UnknownKey || old)
            }
        };
        if !due {
            return Ok(());
        }
        let fetched = self.fetch().await;
        *last_fetch = Some(Instant::now());
        match fetched {
            Ok(set) => {
                *self.keys.write().await = Some(Cached {
                    at: Instant::now(),
                    set,
                });
                Ok(())
            }
            Err(e) if have => {
                // The keys we have stay good rather than lock everyone out.
                tracing::warn!(error = %e, "cannot refresh the OIDC keys; using the cached ones");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The key `kid`: from the cache at once when it is there (an old cache is refreshed in the
    /// background), else after a refresh when one is due.
    pub(crate) async fn key(self: &Arc<Self>, kid: &str) -> Result<Jwk, OidcError> {
        let (found, old) = {
            let keys = self.keys.read().await;
            (
                keys.as_ref().and_then(|c| c.set.find(kid).cloned()),
                keys.as_ref()
                    .is_some_and(|c| c.at.elapsed() >= self.schedule.max_age),
            )
        };
        if let Some(jwk) = found {
            if old && let Ok(guard) = self.last_fetch.try_lock() {
                drop(guard);
                let this = Arc::clone(self);
                tokio::spawn(async move {
                    let _ = this.refresh(Need::Freshness).await;
                });
            }
            return Ok(jwk);
        }
        // The fetch runs in its own task: a request that goes away does not cut it short.
        let this = Arc::clone(self);
        tokio::spawn(async move { this.refresh(Need::UnknownKey).await })
            .await
            .map_err(|e| OidcError::Unavailable(format!("refreshing the OIDC keys: {e}")))??;
        let keys = self.keys.read().await;
        match keys.as_ref() {
            Some(c) => c
                .set
                .find(kid)
                .cloned()
                .ok_or_else(|| OidcError::UnknownKey(kid.to_string())),
            // Keys once fetched are only ever replaced: none means none was ever had.
            None => Err(OidcError::Unavailable(
                "the issuer's keys could not be fetched yet; retrying shortly".into(),
            )),
        }
    }
}
