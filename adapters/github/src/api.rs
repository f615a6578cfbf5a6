//! The GitHub REST API as this crate calls it: JSON in and out, the 2022-11-28 version, and
//! one of three identities — a GitHub App installation (an RS256 App JWT buys installation
//! tokens, cached and replaced 5 minutes before they expire), a plain token, or none.
//! Neither the key nor any token is ever logged (`Debug` redacts them).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cd_ports::SourceError;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;

/// An installation token issued for one request. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct ScopedToken {
    /// The token.
    pub token: String,
    /// When it stops working, as GitHub wrote it (RFC 3339).
    pub expires_at: String,
    /// The repositories GitHub scoped it to (names as GitHub spells them).
    pub repositories: Vec<String>,
    /// The permissions GitHub gave it.
    pub permissions: BTreeMap<String, String>,
}

impl std::fmt::Debug for ScopedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("repositories", &self.repositories)
            .field("permissions", &self.permissions)
            .finish()
    }
}

impl ScopedToken {
    /// Whether the token is no wider than asked: its repositories among `repositories` (in
    /// any case), each permission at most the level asked, besides `metadata: read`, which
    /// GitHub adds to every repository-scoped token.
    fn within(
        &self,
        repositories: &[String],
        permissions: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let asked: std::collections::BTreeSet<String> = repositories
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect();
        if self.repositories.is_empty()
            || self
                .repositories
                .iter()
                .any(|r| !asked.contains(&r.to_ascii_lowercase()))
        {
            return Err(format!("repositories {:?}", self.repositories));
        }
        let rank = |level: &str| match level {
            "read" => 1,
            "write" => 2,
            "admin" => 3,
            _ => u8::MAX,
        };
        for (name, level) in &self.permissions {
            let allowed = match permissions.get(name) {
                Some(asked) => rank(level) <= rank(asked),
                None => name == "metadata" && level == "read",
            };
            if !allowed {
                return Err(format!("permission {name}: {level}"));
            }
        }
        Ok(())
    }
}

/// Why a scoped installation token was not issued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopedTokenError {
    /// GitHub will not issue this scope to the App (or the App's identity was refused).
    #[error("{0}")]
    Refused(String),
    /// GitHub could not be reached, or answered something unusable.
    #[error("{0}")]
    Unavailable(String),
}

impl ScopedTokenError {
    /// A failure of the App itself (its key refused, its installation gone) is never the
    /// request's fault: it is `Unavailable`, whatever GitHub's status.
    fn from_source(e: SourceError) -> Self {
        ScopedTokenError::Unavailable(e.to_string())
    }
}

/// Which installation of the App to act as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Installation {
    /// A known installation id.
    Id(u64),
    /// The installation on an organization (or user), found with
    /// `GET /orgs/{owner}/installation` on first use.
    Owner(String),
}

/// Who the API is called as.
enum Auth {
    App {
        app_id: String,
        key: EncodingKey,
        installation: Installation,
    },
    Token(String),
    Anonymous,
}

/// A token and when it stops working (seconds since the epoch).
struct Token {
    value: String,
    expires_at: u64,
}

/// Replace a token this long before it expires.
const REFRESH_BEFORE: u64 = 5 * 60;

/// A client of one GitHub API endpoint, as one identity.
pub struct GithubApi {
    base: String,
    http: reqwest::Client,
    auth: Auth,
    token: Mutex<Option<Token>>,
    installation_id: Mutex<Option<u64>>,
}

impl std::fmt::Debug for GithubApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let identity = match &self.auth {
            Auth::App {
                app_id,
                installation,
                ..
            } => format!("app {app_id}, {installation:?}"),
            Auth::Token(_) => "token <redacted>".into(),
            Auth::Anonymous => "anonymous".into(),
        };
        f.debug_struct("GithubApi")
            .field("base", &self.base)
            .field("identity", &identity)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// GitHub's `expires_at` (RFC 3339) as seconds since the epoch.
fn parse_time(s: &str) -> Option<u64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> SourceError {
    SourceError::Unavailable(e.to_string())
}

/// A failed call, classified: 401 and 403 (other than rate limits) are `Denied`, 404
/// `NotFound`, everything else is worth retrying.
pub fn error_of(status: StatusCode, body: &Value, what: &str) -> SourceError {
    let message = body["message"].as_str().unwrap_or_default();
    let detail = format!("{what}: GitHub answered {status}: {message}");
    match status.as_u16() {
        401 => SourceError::Denied(detail),
        403 if message.to_ascii_lowercase().contains("rate limit") => {
            SourceError::Unavailable(detail)
        }
        403 => SourceError::Denied(detail),
        404 => SourceError::NotFound(detail),
        _ => SourceError::Unavailable(detail),
    }
}

impl GithubApi {
    fn with_auth(api: &str, auth: Auth) -> Result<GithubApi, SourceError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("infrastream-cd/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(unavailable)?;
        Ok(GithubApi {
            base: api.trim_end_matches('/').to_string(),
            http,
            auth,
            token: Mutex::new(None),
            installation_id: Mutex::new(None),
        })
    }

    /// Acting as an installation of the App `app_id` (its private key, PEM).
    ///
    /// # Errors
    /// [`SourceError::Denied`] when the key is not an RSA PEM key.
    pub fn app(
        api: &str,
        app_id: &str,
        private_key: &str,
        installation: Installation,
    ) -> Result<GithubApi, SourceError> {
        let key = EncodingKey::from_rsa_pem(private_key.as_bytes())
            .map_err(|e| SourceError::Denied(format!("the GitHub App private key: {e}")))?;
        GithubApi::with_auth(
            api,
            Auth::App {
                app_id: app_id.to_string(),
                key,
                installation,
            },
        )
    }

    /// Acting with `token`, or anonymously without one (public data, a low rate limit).
    ///
    /// # Errors
    /// [`SourceError::Unavailable`] when no HTTP client can be built.
    pub fn token(api: &str, token: Option<String>) -> Result<GithubApi, SourceError> {
        let auth = match token.filter(|t| !t.is_empty()) {
            Some(t) => Auth::Token(t),
            None => Auth::Anonymous,
        };
        GithubApi::with_auth(api, auth)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `method path` with GitHub's media type and API version, as `bearer` when given.
    fn request(&self, method: Method, path: &str, bearer: Option<&str>) -> reqwest::RequestBuilder {
        let req = self
            .http
            .request(method, self.url(path))
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28");
        match bearer {
            Some(b) => req.bearer_auth(b),
            None => req,
        }
    }

    fn app_jwt(app_id: &str, key: &EncodingKey) -> Result<String, SourceError> {
        let iat = now().saturating_sub(60); // GitHub allows for clock drift this way.
        let claims = json!({ "iat": iat, "exp": iat + 9 * 60, "iss": app_id });
        encode(&Header::new(Algorithm::RS256), &claims, key)
            .map_err(|e| SourceError::Denied(format!("signing the App JWT: {e}")))
    }

    /// The installation id, looked up once when only the owner is known.
    async fn installation(
        &self,
        jwt: &str,
        installation: &Installation,
    ) -> Result<u64, SourceError> {
        let owner = match installation {
            Installation::Id(id) => return Ok(*id),
            Installation::Owner(owner) => owner,
        };
        let mut known = self.installation_id.lock().await;
        if let Some(id) = *known {
            return Ok(id);
        }
        let response = self
            .request(
                Method::GET,
                &format!("/orgs/{owner}/installation"),
                Some(jwt),
            )
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != StatusCode::OK {
            return Err(error_of(
                status,
                &body,
                &format!("the App's installation on {owner}"),
            ));
        }
        let id = body["id"]
            .as_u64()
            .ok_or_else(|| unavailable("no installation id in GitHub's answer"))?;
        *known = Some(id);
        Ok(id)
    }

    /// The bearer token of the next call, if any.
    async fn bearer(&self) -> Result<Option<String>, SourceError> {
        match &self.auth {
            Auth::Anonymous => return Ok(None),
            Auth::Token(t) => return Ok(Some(t.clone())),
            Auth::App { .. } => {}
        }
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && t.expires_at > now() + REFRESH_BEFORE
        {
            return Ok(Some(t.value.clone()));
        }
        let (jwt, id) = self.app_identity().await?;
        let (status, body) = self
            .post_access_token(&jwt, id, None)
            .await
            .map_err(unavailable)?;
        if status != StatusCode::CREATED {
            return Err(error_of(status, &body, "the installation token"));
        }
        let value = body["token"]
            .as_str()
            .ok_or_else(|| unavailable("no token in GitHub's answer"))?
            .to_string();
        let expires_at = body["expires_at"]
            .as_str()
            .and_then(parse_time)
            .unwrap_or_else(|| now() + 3600);
        *cached = Some(Token {
            value: value.clone(),
            expires_at,
        });
        tracing::debug!(
            installation = id,
            expires_at,
            "GitHub installation token obtained"
        );
        Ok(Some(value))
    }

    /// The App JWT and the installation id, for calls made as the App itself.
    async fn as_app(&self) -> Result<(String, u64), ScopedTokenError> {
        if !matches!(self.auth, Auth::App { .. }) {
            return Err(ScopedTokenError::Refused(
                "only a GitHub App can issue installation tokens".into(),
            ));
        }
        self.app_identity()
            .await
            .map_err(ScopedTokenError::from_source)
    }

    /// The App's JWT and its installation's id (looked up once when only the owner is known).
    async fn app_identity(&self) -> Result<(String, u64), SourceError> {
        let Auth::App {
            app_id,
            key,
            installation,
        } = &self.auth
        else {
            return Err(SourceError::Denied("not acting as a GitHub App".into()));
        };
        let jwt = GithubApi::app_jwt(app_id, key)?;
        let id = self.installation(&jwt, installation).await?;
        Ok((jwt, id))
    }

    /// `POST /app/installations/{id}/access_tokens` as the App, narrowed to `scope` (its
    /// `repositories` and `permissions`) when given: GitHub's status and JSON answer.
    async fn post_access_token(
        &self,
        jwt: &str,
        id: u64,
        scope: Option<&Value>,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let mut req = self.request(
            Method::POST,
            &format!("/app/installations/{id}/access_tokens"),
            Some(jwt),
        );
        if let Some(scope) = scope {
            req = req.json(scope);
        }
        let response = req.send().await?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Whether the App can act on its installation: its key is accepted and the installation
    /// exists (what a readiness probe asks).
    ///
    /// # Errors
    /// [`ScopedTokenError`] saying why not.
    pub async fn check_installation(&self) -> Result<u64, ScopedTokenError> {
        let (jwt, id) = self.as_app().await?;
        let response = self
            .request(
                Method::GET,
                &format!("/app/installations/{id}"),
                Some(&*jwt),
            )
            .send()
            .await
            .map_err(|e| ScopedTokenError::Unavailable(e.to_string()))?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(id);
        }
        if matches!(status.as_u16(), 401 | 404) {
            // Uninstalled (and perhaps installed again under a new id): look it up anew.
            *self.installation_id.lock().await = None;
        }
        Err(ScopedTokenError::Unavailable(format!(
            "the App's installation {id}: GitHub answered {status}"
        )))
    }

    /// A new installation token for exactly `repositories` (bare names of the installation's
    /// owner) and `permissions`, never cached or reused: each call is one token GitHub issued.
    /// GitHub's answer is checked: a token whose scope is wider than asked is revoked and
    /// refused.
    ///
    /// # Errors
    /// [`ScopedTokenError::Refused`] when GitHub will not issue that scope (a repository that
    /// is not the installation's, a permission the App lacks), `Unavailable` otherwise.
    pub async fn scoped_token(
        &self,
        repositories: &[String],
        permissions: &BTreeMap<String, String>,
    ) -> Result<ScopedToken, ScopedTokenError> {
        let (jwt, id) = self.as_app().await?;
        let scope = json!({ "repositories": repositories, "permissions": permissions });
        let (status, body) = self
            .post_access_token(&jwt, id, Some(&scope))
            .await
            .map_err(|e| ScopedTokenError::Unavailable(e.to_string()))?;
        if status != StatusCode::CREATED {
            let message = body["message"].as_str().unwrap_or_default();
            let detail = body["errors"]
                .as_array()
                .and_then(|e| e.first())
                .and_then(Value::as_str)
                .map_or_else(|| message.to_string(), |d| format!("{message}: {d}"));
            let text = format!("GitHub answered {status}: {detail}");
            if matches!(status.as_u16(), 401 | 404) {
                // The App's JWT or installation is at fault, not the request's scope.
                *self.installation_id.lock().await = None;
            }
            return Err(match status.as_u16() {
                403 if message.to_ascii_lowercase().contains("rate limit") => {
                    ScopedTokenError::Unavailable(text)
                }
                403 | 422 => ScopedTokenError::Refused(text),
                _ => ScopedTokenError::Unavailable(text),
            });
        }
        let token = body["token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ScopedTokenError::Unavailable("no token in GitHub's answer".into()))?
            .to_string();
        let issued = ScopedToken {
            expires_at: body["expires_at"].as_str().unwrap_or_default().to_string(),
            repositories: body["repositories"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|r| r["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            permissions: body["permissions"]
                .as_object()
                .map(|p| {
                    p.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
            token,
        };
        if let Err(why) = issued.within(repositories, permissions) {
            // Never hand out more than was asked: take it back, and say loudly if that fails.
            let hash = hex::encode(Sha256::digest(issued.token.as_bytes()));
            let mut revoked = self.revoke_token(&issued.token).await;
            if revoked.is_err() {
                revoked = self.revoke_token(&issued.token).await;
            }
            return Err(ScopedTokenError::Unavailable(match revoked {
                Ok(()) => format!("GitHub issued a wider token than asked ({why}); it was revoked"),
                Err(e) => {
                    tracing::error!(token_sha256 = %hash, error = %e, wider = %why, "a wider token than asked could not be revoked: revoke it by hand");
                    format!(
                        "GitHub issued a wider token than asked ({why}) and revoking it failed ({e}); its SHA-256 is {hash}"
                    )
                }
            }));
        }
        Ok(issued)
    }

    /// Revokes an installation token (`DELETE /installation/token`, as the token).
    ///
    /// # Errors
    /// [`ScopedTokenError::Unavailable`] when GitHub did not confirm it.
    pub async fn revoke_token(&self, token: &str) -> Result<(), ScopedTokenError> {
        let response = self
            .request(Method::DELETE, "/installation/token", Some(token))
            .send()
            .await
            .map_err(|e| ScopedTokenError::Unavailable(e.to_string()))?;
        if response.status() == StatusCode::NO_CONTENT {
            Ok(())
        } else {
            Err(ScopedTokenError::Unavailable(format!(
                "revoking a token: GitHub answered {}",
                response.status()
            )))
        }
    }

    /// Calls `method path` with an optional JSON body; answers the status and the JSON body
    /// (`null` when there is none). An installation token GitHub revoked early is replaced
    /// and the call made once more.
    ///
    /// # Errors
    /// [`SourceError`] when GitHub cannot be reached or no token can be had.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), SourceError> {
        let (status, value) = self.call_once(method.clone(), path, body).await?;
        if status != StatusCode::UNAUTHORIZED || !matches!(self.auth, Auth::App { .. }) {
            return Ok((status, value));
        }
        // GitHub revokes installation tokens early (the App's permissions changed, the
        // installation was suspended): drop ours and try once more with a fresh one.
        *self.token.lock().await = None;
        self.call_once(method, path, body).await
    }

    async fn call_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), SourceError> {
        let token = self.bearer().await?;
        let mut req = self.request(method, path, token.as_deref());
        if let Some(b) = body {
            req = req.json(b);
        }
        let response = req.send().await.map_err(unavailable)?;
        let status = response.status();
        let value = response.json().await.unwrap_or(Value::Null);
        Ok((status, value))
    }
}

/// `/repos/{owner}/{name}` for a repository named `name` or `owner/name`, its parts held to
/// GitHub's characters.
///
/// # Errors
/// [`SourceError::NotFound`] when it is not a repository name.
pub fn repo_path(owner: &str, repository: &str) -> Result<String, SourceError> {
    let full = if repository.contains('/') {
        repository.to_string()
    } else {
        format!("{owner}/{repository}")
    };
    let valid = full.split('/').count() == 2
        && full.split('/').all(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if valid {
        Ok(format!("/repos/{full}"))
    } else {
        Err(SourceError::NotFound(format!(
            "'{repository}' is not a repository name"
        )))
    }
}

#[derive(serde::Deserialize)]
struct RefObject {
    object: Target,
}

#[derive(serde::Deserialize)]
struct Target {
    sha: String,
    #[serde(rename = "type")]
    kind: String,
}

/// The commit tag `tag` of `repo` (a [`repo_path`]) names; an annotated tag is followed (tags
/// of tags too) to its commit.
///
/// # Errors
/// [`SourceError::NotFound`] when the tag does not exist; others as [`GithubApi::call`].
pub async fn commit_of_tag(
    api: &GithubApi,
    repo: &str,
    repository: &str,
    tag: &str,
) -> Result<String, SourceError> {
    let (status, body) = api
        .call(Method::GET, &format!("{repo}/git/ref/tags/{tag}"), None)
        .await?;
    if status == StatusCode::NOT_FOUND {
        return Err(SourceError::NotFound(format!("tag {tag} in {repository}")));
    }
    if status != StatusCode::OK {
        return Err(error_of(status, &body, "the tag"));
    }
    let mut target: RefObject =
        serde_json::from_value(body).map_err(|e| unavailable(format!("GitHub's tag: {e}")))?;
    for _ in 0..8 {
        if target.object.kind != "tag" {
            return Ok(target.object.sha);
        }
        let (status, body) = api
            .call(
                Method::GET,
                &format!("{repo}/git/tags/{}", target.object.sha),
                None,
            )
            .await?;
        if status != StatusCode::OK {
            return Err(error_of(status, &body, "the annotated tag"));
        }
        target = serde_json::from_value(body)
            .map_err(|e| unavailable(format!("GitHub's tag object: {e}")))?;
    }
    Err(unavailable(format!("tag {tag} nests too deep")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_times_parse() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2026-11-27T02:19:52Z"), Some(1_795_745_992));
        assert_eq!(parse_time("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        assert_eq!(parse_time("garbage"), None);
    }

    #[test]
    fn repository_names_stay_names() {
        assert_eq!(
            repo_path("northwind", "shop-api").unwrap(),
            "/repos/northwind/shop-api"
        );
        assert_eq!(repo_path("x", "acme/other").unwrap(), "/repos/acme/other");
        assert!(repo_path("x", "../etc").is_err() && repo_path("x", "a/b/c").is_err());
    }
}
