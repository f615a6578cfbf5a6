//! `cd-github`: the [`SourceHost`] on the GitHub REST API, authenticated as a GitHub App.
//!
//! - **Auth**: an RS256 JWT signed with the App's private key (`iss` = App id, 9 minutes)
//!   buys an installation token, cached and replaced 5 minutes before it expires. Neither is
//!   ever logged (`Debug` redacts them).
//! - **Release branches**: `create_branch` resolves the tag (dereferencing an annotated tag to
//!   its commit) and creates `refs/heads/<branch>` there. A branch that already exists is
//!   success and is never moved: its current commit is returned, also when another writer
//!   created it between our look and our create (GitHub answers 422).
//! - **Releases**: `create_release` creates the release of a tag with the changelog as its
//!   body; an existing release of the tag is success.
//! - **Pull requests**: `pull_request_of` lists the pull requests associated with a commit.
//!
//! Written on `reqwest` (already in the tree) rather than octocrab: five endpoints do not
//! justify octocrab's build (both ring and aws-lc by default; ~84 s on its own here).

// Indexing a serde_json::Value by key or position yields Null when absent; it never panics.
#![allow(clippy::indexing_slicing)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use cd_ports::{PullRequest, SourceError, SourceHost};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// How to reach GitHub and who we are.
#[derive(Clone)]
pub struct GithubConfig {
    /// The API base, `https://api.github.com` (or a GitHub Enterprise `https://HOST/api/v3`).
    pub api: String,
    /// The App's id.
    pub app_id: String,
    /// The App's private key, PEM.
    pub private_key: String,
    /// The installation to act as.
    pub installation_id: u64,
    /// The owner (organization) of repositories named without one.
    pub owner: String,
}

impl std::fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubConfig")
            .field("api", &self.api)
            .field("app_id", &self.app_id)
            .field("private_key", &"<redacted>")
            .field("installation_id", &self.installation_id)
            .field("owner", &self.owner)
            .finish()
    }
}

/// A token and when it stops working (seconds since the epoch).
struct Token {
    value: String,
    expires_at: u64,
}

/// Replace a token this long before it expires.
const REFRESH_BEFORE: u64 = 5 * 60;

/// The SourceHost on GitHub.
pub struct GithubSourceHost {
    config: GithubConfig,
    key: EncodingKey,
    http: reqwest::Client,
    token: Mutex<Option<Token>>,
}

impl std::fmt::Debug for GithubSourceHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubSourceHost")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `2026-11-27T03:00:00Z` as seconds since the epoch (GitHub's `expires_at`).
fn parse_time(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    if b.len() < 19 {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + se).ok()
}

fn unavailable(e: impl std::fmt::Display) -> SourceError {
    SourceError::Unavailable(e.to_string())
}

#[derive(Deserialize)]
struct RefObject {
    object: Target,
}

#[derive(Deserialize)]
struct Target {
    sha: String,
    #[serde(rename = "type")]
    kind: String,
}

impl GithubSourceHost {
    /// A host acting as the App installation `config` names.
    ///
    /// # Errors
    /// [`SourceError::Denied`] when the private key is not an RSA PEM key.
    pub fn new(config: GithubConfig) -> Result<Self, SourceError> {
        let key = EncodingKey::from_rsa_pem(config.private_key.as_bytes())
            .map_err(|e| SourceError::Denied(format!("the GitHub App private key: {e}")))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("infrastream-cd/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(unavailable)?;
        Ok(GithubSourceHost {
            config,
            key,
            http,
            token: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api.trim_end_matches('/'))
    }

    fn app_jwt(&self) -> Result<String, SourceError> {
        let iat = now().saturating_sub(60); // GitHub allows for clock drift this way.
        let claims = json!({ "iat": iat, "exp": iat + 9 * 60, "iss": self.config.app_id });
        encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| SourceError::Denied(format!("signing the App JWT: {e}")))
    }

    /// The installation token, fetched again when it is about to expire.
    async fn token(&self) -> Result<String, SourceError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && t.expires_at > now() + REFRESH_BEFORE
        {
            return Ok(t.value.clone());
        }
        let url = self.url(&format!(
            "/app/installations/{}/access_tokens",
            self.config.installation_id
        ));
        let response = self
            .http
            .post(url)
            .bearer_auth(self.app_jwt()?)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
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
            installation = self.config.installation_id,
            expires_at,
            "GitHub installation token obtained"
        );
        Ok(value)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), SourceError> {
        let (status, value) = self.call_once(method.clone(), path, body).await?;
        if status != StatusCode::UNAUTHORIZED {
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
        let token = self.token().await?;
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28");
        if let Some(b) = body {
            req = req.json(b);
        }
        let response = req.send().await.map_err(unavailable)?;
        let status = response.status();
        let value = response.json().await.unwrap_or(Value::Null);
        Ok((status, value))
    }

    fn repo_path(&self, repository: &str) -> Result<String, SourceError> {
        let full = if repository.contains('/') {
            repository.to_string()
        } else {
            format!("{}/{repository}", self.config.owner)
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

    async fn branch_at(&self, repo: &str, branch: &str) -> Result<Option<String>, SourceError> {
        let (status, body) = self
            .call(Method::GET, &format!("{repo}/git/ref/heads/{branch}"), None)
            .await?;
        match status {
            StatusCode::OK => Ok(Some(sha_of(&body)?)),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(error_of(s, &body, "the branch")),
        }
    }

    async fn commit_of_tag(
        &self,
        repo: &str,
        repository: &str,
        tag: &str,
    ) -> Result<String, SourceError> {
        let (status, body) = self
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
        // An annotated tag points at a tag object; follow it (tags of tags too) to the commit.
        for _ in 0..8 {
            if target.object.kind != "tag" {
                return Ok(target.object.sha);
            }
            let (status, body) = self
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
}

fn sha_of(body: &Value) -> Result<String, SourceError> {
    body["object"]["sha"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| unavailable("no object.sha in GitHub's answer"))
}

/// A failed call, classified: 401 and 403 (other than rate limits) are `Denied`, 404
/// `NotFound`, everything else is worth retrying.
fn error_of(status: StatusCode, body: &Value, what: &str) -> SourceError {
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

#[async_trait]
impl SourceHost for GithubSourceHost {
    async fn create_branch(
        &self,
        repository: &str,
        branch: &str,
        from_tag: &str,
    ) -> Result<String, SourceError> {
        let repo = self.repo_path(repository)?;
        if let Some(at) = self.branch_at(&repo, branch).await? {
            return Ok(at); // Never moved: it may carry hotfix commits.
        }
        let sha = self.commit_of_tag(&repo, repository, from_tag).await?;
        let (status, body) = self
            .call(
                Method::POST,
                &format!("{repo}/git/refs"),
                Some(&json!({ "ref": format!("refs/heads/{branch}"), "sha": sha })),
            )
            .await?;
        match status {
            StatusCode::CREATED => sha_of(&body),
            // Someone created it meanwhile: theirs stands.
            StatusCode::UNPROCESSABLE_ENTITY => self
                .branch_at(&repo, branch)
                .await?
                .ok_or_else(|| error_of(status, &body, "creating the branch")),
            s => Err(error_of(s, &body, "creating the branch")),
        }
    }

    async fn create_release(
        &self,
        repository: &str,
        tag: &str,
        name: &str,
        notes: &str,
    ) -> Result<(), SourceError> {
        let repo = self.repo_path(repository)?;
        let (status, body) = self
            .call(Method::GET, &format!("{repo}/releases/tags/{tag}"), None)
            .await?;
        match status {
            StatusCode::OK => return Ok(()),
            StatusCode::NOT_FOUND => {}
            s => return Err(error_of(s, &body, "the release")),
        }
        let (status, body) = self
            .call(
                Method::POST,
                &format!("{repo}/releases"),
                Some(&json!({ "tag_name": tag, "name": name, "body": notes })),
            )
            .await?;
        let exists = body["errors"]
            .as_array()
            .is_some_and(|errs| errs.iter().any(|e| e["code"] == "already_exists"));
        match status {
            StatusCode::CREATED => Ok(()),
            StatusCode::UNPROCESSABLE_ENTITY if exists => Ok(()),
            s => Err(error_of(s, &body, "creating the release")),
        }
    }

    async fn pull_request_of(
        &self,
        repository: &str,
        commit: &str,
    ) -> Result<Option<PullRequest>, SourceError> {
        let repo = self.repo_path(repository)?;
        let (status, body) = self
            .call(Method::GET, &format!("{repo}/commits/{commit}/pulls"), None)
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Err(SourceError::NotFound(format!("repository {repository}")));
        }
        // GitHub answers 422 "No commit found for SHA" for a commit it does not know.
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            return Ok(None);
        }
        if status != StatusCode::OK {
            return Err(error_of(status, &body, "the commit's pull requests"));
        }
        let Some(pr) = body.as_array().and_then(|l| l.first()) else {
            return Ok(None);
        };
        Ok(Some(PullRequest {
            number: pr["number"].as_u64().unwrap_or_default(),
            title: pr["title"].as_str().unwrap_or_default().to_string(),
            labels: pr["labels"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|x| x["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            author: pr["user"]["login"].as_str().unwrap_or_default().to_string(),
        }))
    }
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
}
