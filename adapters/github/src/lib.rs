//! `cd-github`: Infrastream CD on the GitHub REST API, authenticated as a GitHub App.
//!
//! - [`GithubSourceHost`]: the [`SourceHost`] port. **Release branches**: `create_branch`
//!   resolves the tag (dereferencing an annotated tag to its commit) and creates
//!   `refs/heads/<branch>` there. A branch that already exists is success and is never moved:
//!   its current commit is returned, also when another writer created it between our look and
//!   our create (GitHub answers 422). **Releases**: `create_release` creates the release of a
//!   tag with the changelog as its body; an existing release of the tag is success. **Pull
//!   requests**: `pull_request_of` lists the pull requests associated with a commit.
//! - [`workflows`]: publishing generated CI workflows (one pull request per repository, the
//!   rulesets applied) and reading actions' latest releases for the pin table.
//! - [`api`]: the transport and the identities (App installation, token, anonymous).
//!
//! Written on `reqwest` (already in the tree) rather than octocrab: a dozen endpoints do not
//! justify octocrab's build (both ring and aws-lc by default; ~84 s on its own here).

// Indexing a serde_json::Value by key or position yields Null when absent; it never panics.
#![allow(clippy::indexing_slicing)]

pub mod api;
pub mod workflows;

use async_trait::async_trait;
use cd_ports::{PullRequest, SourceError, SourceHost};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub use api::{GithubApi, Installation, ScopedToken, ScopedTokenError};
use api::{error_of, unavailable};

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

/// The SourceHost on GitHub.
#[derive(Debug)]
pub struct GithubSourceHost {
    api: GithubApi,
    owner: String,
}

impl GithubSourceHost {
    /// A host acting as the App installation `config` names.
    ///
    /// # Errors
    /// [`SourceError::Denied`] when the private key is not an RSA PEM key.
    pub fn new(config: GithubConfig) -> Result<Self, SourceError> {
        let api = GithubApi::app(
            &config.api,
            &config.app_id,
            &config.private_key,
            Installation::Id(config.installation_id),
        )?;
        Ok(GithubSourceHost {
            api,
            owner: config.owner,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), SourceError> {
        self.api.call(method, path, body).await
    }

    fn repo_path(&self, repository: &str) -> Result<String, SourceError> {
        api::repo_path(&self.owner, repository)
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
}

fn sha_of(body: &Value) -> Result<String, SourceError> {
    body["object"]["sha"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| unavailable("no object.sha in GitHub's answer"))
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
        let sha = api::commit_of_tag(&self.api, &repo, repository, from_tag).await?;
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

    async fn tag_commit(&self, repository: &str, tag: &str) -> Result<Option<String>, SourceError> {
        let repo = self.repo_path(repository)?;
        match api::commit_of_tag(&self.api, &repo, repository, tag).await {
            Ok(sha) => Ok(Some(sha)),
            // GitHub answers 404 alike for a missing tag and a missing repository: the
            // repository's absence shows when its branch is created.
            Err(SourceError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
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
