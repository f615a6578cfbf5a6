//! `Registry` over the OCI Distribution API: what Artifact Registry's Docker endpoint, GHCR,
//! Harbor and `docker-registry` speak.
//!
//! Tags are created by putting an existing manifest under a new reference, and only after a
//! check that the reference does not exist: registries let a PUT move a tag, so immutability is
//! enforced here (and by the registry too where it supports immutable tags).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cd_ports::{Registry, RegistryError};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LINK, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::MANIFEST_TYPES;
use crate::answers::{self, Challenge, parse_challenge};

/// Credentials that change over time (short-lived access tokens), asked for at each use.
#[async_trait]
pub trait Credentials: Send + Sync + 'static {
    /// The current user name and password (or access token).
    ///
    /// # Errors
    /// [`RegistryError::Denied`] when no credential can be had, `Unavailable` when the source
    /// of credentials cannot be reached.
    async fn basic(&self) -> Result<(String, String), RegistryError>;
}

/// Credentials for a registry endpoint.
#[derive(Clone, Default)]
pub enum Auth {
    /// No credentials (anonymous pulls, an open local registry).
    #[default]
    Anonymous,
    /// HTTP basic, or basic credentials exchanged for a bearer token when the registry asks.
    Basic {
        /// User name.
        username: String,
        /// Password or access token.
        password: String,
    },
    /// A bearer token sent as is.
    Bearer(String),
    /// Basic credentials asked for at each use, e.g. Artifact Registry's `oauth2accesstoken`
    /// with a fresh Google access token.
    Provider(std::sync::Arc<dyn Credentials>),
}

impl PartialEq for Auth {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Auth::Anonymous, Auth::Anonymous) => true,
            (
                Auth::Basic { username, password },
                Auth::Basic {
                    username: u,
                    password: p,
                },
            ) => username == u && password == p,
            (Auth::Bearer(a), Auth::Bearer(b)) => a == b,
            (Auth::Provider(a), Auth::Provider(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Auth {}

impl Auth {
    /// The basic credentials to answer a challenge with, if any.
    async fn basic(&self) -> Result<Option<(String, String)>, RegistryError> {
        match self {
            Auth::Basic { username, password } => Ok(Some((username.clone(), password.clone()))),
            Auth::Provider(p) => p.basic().await.map(Some),
            Auth::Anonymous | Auth::Bearer(_) => Ok(None),
        }
    }
}

// Secrets never reach a log line.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Anonymous => f.write_str("Anonymous"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Auth::Provider(_) => f.write_str("Provider(<redacted>)"),
        }
    }
}

/// One registry endpoint: where an ArtifactRegistry name's images live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL, e.g. `https://europe-docker.pkg.dev` or `http://127.0.0.1:5000`.
    pub url: String,
    /// Prefix of repository names, e.g. `my-project/containers/` (may be empty).
    pub prefix: String,
    /// Credentials.
    pub auth: Auth,
}

/// A client of one or more registries, by ArtifactRegistry name.
#[derive(Debug)]
pub struct OciRegistry {
    client: reqwest::Client,
    endpoints: BTreeMap<String, Endpoint>,
    fallback: Option<Endpoint>,
    /// Bearer tokens by (registry URL, scope): a token is only ever sent to the registry that
    /// issued it, even when two registries hold repositories of the same name.
    tokens: Mutex<BTreeMap<(String, String), String>>,
    page_size: usize,
}

fn transport(e: &reqwest::Error) -> RegistryError {
    RegistryError::Unavailable(e.to_string())
}

async fn failure(what: &str, response: Response) -> RegistryError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let detail = format!(
        "{what}: HTTP {status}: {}",
        body.chars().take(300).collect::<String>()
    );
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RegistryError::Denied(detail),
        StatusCode::NOT_FOUND => RegistryError::NotFound(detail),
        StatusCode::TOO_MANY_REQUESTS => RegistryError::Unavailable(detail),
        s if s.is_server_error() => RegistryError::Unavailable(detail),
        _ => RegistryError::Invalid(detail),
    }
}

impl OciRegistry {
    /// A client with `endpoints` by registry name, and `fallback` for names not listed.
    ///
    /// # Errors
    /// [`RegistryError::Invalid`] when the HTTP client cannot be built.
    pub fn new(
        endpoints: BTreeMap<String, Endpoint>,
        fallback: Option<Endpoint>,
    ) -> Result<Self, RegistryError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("infrastream-cd/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        Ok(OciRegistry {
            client,
            endpoints,
            fallback,
            tokens: Mutex::new(BTreeMap::new()),
            page_size: 100,
        })
    }

    /// Sets how many tags a listing asks for per page.
    #[must_use]
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    fn endpoint(&self, registry: &str) -> Result<&Endpoint, RegistryError> {
        self.endpoints
            .get(registry)
            .or(self.fallback.as_ref())
            .ok_or_else(|| {
                RegistryError::NotFound(format!("no endpoint configured for registry '{registry}'"))
            })
    }

    fn repository(endpoint: &Endpoint, image: &str) -> String {
        format!("{}{image}", endpoint.prefix)
    }

    /// Sends a request, answering an authentication challenge once.
    async fn send(
        &self,
        endpoint: &Endpoint,
        method: Method,
        url: &str,
        headers: &[(reqwest::header::HeaderName, String)],
        body: Option<Vec<u8>>,
        scope: &str,
    ) -> Result<Response, RegistryError> {
        let build = |auth: Option<String>| {
            let mut rb = self.client.request(method.clone(), url);
            for (k, v) in headers {
                rb = rb.header(k, v);
            }
            if let Some(a) = auth {
                rb = rb.header(AUTHORIZATION, a);
            }
            if let Some(b) = &body {
                rb = rb.body(b.clone());
            }
            rb
        };
        let key = (endpoint.url.clone(), scope.to_string());
        let cached = self.tokens.lock().ok().and_then(|t| t.get(&key).cloned());
        let first = match (&endpoint.auth, cached) {
            (_, Some(token)) => Some(format!("Bearer {token}")),
            (Auth::Bearer(token), None) => Some(format!("Bearer {token}")),
            _ => None,
        };
        let response = build(first).send().await.map_err(|e| transport(&e))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .map(parse_challenge)
            .unwrap_or_default();
        let auth = match challenge.scheme.as_str() {
            "basic" => match endpoint.auth.basic().await? {
                Some((username, password)) => {
                    format!("Basic {}", BASE64.encode(format!("{username}:{password}")))
                }
                None => return Ok(response),
            },
            "bearer" => format!("Bearer {}", self.token(endpoint, &challenge, scope).await?),
            _ => return Ok(response),
        };
        build(Some(auth)).send().await.map_err(|e| transport(&e))
    }

    /// Exchanges credentials for a bearer token at the challenge's realm (the Docker token
    /// protocol), and caches it per scope.
    async fn token(
        &self,
        endpoint: &Endpoint,
        challenge: &Challenge,
        scope: &str,
    ) -> Result<String, RegistryError> {
        let realm = challenge
            .params
            .get("realm")
            .ok_or_else(|| RegistryError::Denied("bearer challenge without a realm".into()))?;
        let mut query = vec![("scope", scope.to_string())];
        if let Some(service) = challenge.params.get("service") {
            query.push(("service", service.clone()));
        }
        let mut rb = self.client.get(realm).query(&query);
        if let Some((username, password)) = endpoint.auth.basic().await? {
            rb = rb.basic_auth(username, Some(password));
        }
        let response = rb.send().await.map_err(|e| transport(&e))?;
        if !response.status().is_success() {
            return Err(failure("token request", response).await);
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| RegistryError::Denied(format!("token response: {e}")))?;
        let token = answers::token_answer(&body)?;
        if let Ok(mut t) = self.tokens.lock() {
            t.insert((endpoint.url.clone(), scope.to_string()), token.clone());
        }
        Ok(token)
    }

    fn scope(repository: &str, push: bool) -> String {
        if push {
            format!("repository:{repository}:pull,push")
        } else {
            format!("repository:{repository}:pull")
        }
    }

    /// The manifest under `reference` (tag or digest): its bytes, media type and digest.
    async fn manifest(
        &self,
        endpoint: &Endpoint,
        repository: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, String, String), RegistryError> {
        let url = format!(
            "{}/v2/{repository}/manifests/{reference}",
            endpoint.url.trim_end_matches('/')
        );
        let accept = (ACCEPT, MANIFEST_TYPES.join(", "));
        let scope = Self::scope(repository, true);
        let response = self
            .send(endpoint, Method::GET, &url, &[accept], None, &scope)
            .await?;
        if !response.status().is_success() {
            return Err(failure(&format!("GET manifest {repository}:{reference}"), response).await);
        }
        let media = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/vnd.oci.image.manifest.v1+json")
            .to_string();
        let bytes = response.bytes().await.map_err(|e| transport(&e))?.to_vec();
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        Ok((bytes, media, digest))
    }

    /// Pushes a small image (a config and one layer built from `content`) under `tag`, through
    /// the registry API, and returns its manifest digest. For tests and demos: what CI does.
    ///
    /// # Errors
    /// Registry errors.
    pub async fn push_image(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
        content: &str,
    ) -> Result<String, RegistryError> {
        let endpoint = self.endpoint(registry)?;
        let repository = Self::repository(endpoint, image);
        let scope = Self::scope(&repository, true);
        let base = endpoint.url.trim_end_matches('/');
        let (config, layer, manifest) = crate::image_parts(content);
        for blob in [&config, &layer] {
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(blob)));
            let start = self
                .send(
                    endpoint,
                    Method::POST,
                    &format!("{base}/v2/{repository}/blobs/uploads/"),
                    &[],
                    None,
                    &scope,
                )
                .await?;
            if start.status() != StatusCode::ACCEPTED {
                return Err(failure("start blob upload", start).await);
            }
            let location = start
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| RegistryError::Invalid("blob upload without a Location".into()))?
                .to_string();
            let location = if location.starts_with("http") {
                location
            } else {
                format!("{base}{location}")
            };
            let separator = if location.contains('?') { '&' } else { '?' };
            let url = format!("{location}{separator}digest={digest}");
            let headers = [(CONTENT_TYPE, "application/octet-stream".to_string())];
            let done = self
                .send(
                    endpoint,
                    Method::PUT,
                    &url,
                    &headers,
                    Some(blob.clone()),
                    &scope,
                )
                .await?;
            if !done.status().is_success() {
                return Err(failure("finish blob upload", done).await);
            }
        }
        let url = format!("{base}/v2/{repository}/manifests/{tag}");
        let headers = [(CONTENT_TYPE, crate::OCI_MANIFEST.to_string())];
        let put = self
            .send(
                endpoint,
                Method::PUT,
                &url,
                &headers,
                Some(manifest.clone()),
                &scope,
            )
            .await?;
        if !put.status().is_success() {
            return Err(failure("put manifest", put).await);
        }
        Ok(format!("sha256:{}", hex::encode(Sha256::digest(&manifest))))
    }
}

#[async_trait]
impl Registry for OciRegistry {
    async fn list_tags(
        &self,
        registry: &str,
        image: &str,
        prefix: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let endpoint = self.endpoint(registry)?;
        let repository = Self::repository(endpoint, image);
        let scope = Self::scope(&repository, false);
        let base = endpoint.url.trim_end_matches('/');
        let mut url = Some(format!(
            "{base}/v2/{repository}/tags/list?n={}",
            self.page_size
        ));
        let mut tags = Vec::new();
        while let Some(page) = url.take() {
            let response = self
                .send(endpoint, Method::GET, &page, &[], None, &scope)
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                // No such repository yet: an image without tags.
                return Ok(Vec::new());
            }
            if !response.status().is_success() {
                return Err(failure(&format!("list tags of {repository}"), response).await);
            }
            url = response
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|link| answers::next_page(link, base));
            let body = response.bytes().await.map_err(|e| transport(&e))?;
            let page = answers::tag_list(&body)
                .map_err(|e| RegistryError::Invalid(format!("{repository}: {e}")))?;
            tags.extend(page);
        }
        tags.retain(|t| t.starts_with(prefix));
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    async fn resolve(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
    ) -> Result<String, RegistryError> {
        let endpoint = self.endpoint(registry)?;
        let repository = Self::repository(endpoint, image);
        let url = format!(
            "{}/v2/{repository}/manifests/{tag}",
            endpoint.url.trim_end_matches('/')
        );
        let accept = (ACCEPT, MANIFEST_TYPES.join(", "));
        let scope = Self::scope(&repository, false);
        let response = self
            .send(endpoint, Method::HEAD, &url, &[accept], None, &scope)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound(format!("{repository}:{tag}")));
        }
        if !response.status().is_success() {
            return Err(failure(&format!("HEAD {repository}:{tag}"), response).await);
        }
        if let Some(d) = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            return answers::digest(d);
        }
        // Registries that omit the header: hash the manifest itself.
        Ok(self.manifest(endpoint, &repository, tag).await?.2)
    }

    async fn create_tag(
        &self,
        registry: &str,
        image: &str,
        tag: &str,
        digest: &str,
    ) -> Result<(), RegistryError> {
        cd_ports::check_tag(tag)?;
        match self.resolve(registry, image, tag).await {
            Ok(existing) => return Err(RegistryError::AlreadyExists { digest: existing }),
            Err(RegistryError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let endpoint = self.endpoint(registry)?;
        let repository = Self::repository(endpoint, image);
        let (bytes, media, actual) = match self.manifest(endpoint, &repository, digest).await {
            Ok(m) => m,
            Err(RegistryError::NotFound(_) | RegistryError::Invalid(_)) => {
                return Err(RegistryError::NotFound(format!("{repository}@{digest}")));
            }
            Err(e) => return Err(e),
        };
        if actual != digest {
            return Err(RegistryError::Invalid(format!(
                "{repository}@{digest} returned a manifest with digest {actual}"
            )));
        }
        let url = format!(
            "{}/v2/{repository}/manifests/{tag}",
            endpoint.url.trim_end_matches('/')
        );
        let scope = Self::scope(&repository, true);
        let response = self
            .send(
                endpoint,
                Method::PUT,
                &url,
                &[(CONTENT_TYPE, media)],
                Some(bytes),
                &scope,
            )
            .await?;
        if response.status().is_success() {
            return Ok(());
        }
        let error = failure(&format!("PUT {repository}:{tag}"), response).await;
        // Another writer may have created the tag between our check and our PUT, and a
        // registry with immutable tags (Artifact Registry) then refuses ours: report the tag
        // that stands, so an equal digest counts as done and another is never overwritten.
        match self.resolve(registry, image, tag).await {
            Ok(existing) => Err(RegistryError::AlreadyExists { digest: existing }),
            Err(_) => Err(error),
        }
    }
}
