//! A local server answering as the GitHub REST API documents it (docs.github.com, API version
//! 2022-11-28), for the endpoints Infrastream CD calls: App installation tokens, refs, tags,
//! trees, commits, contents, pull requests, labels, releases and repository rulesets, with
//! GitHub's status codes and JSON shapes. No GitHub runs here; tests replay its documented
//! behaviour instead.
//!
//! Identities: the App JWT is verified with the App's public key (RS256, `iss` = `4242`);
//! installation `7` is the App's installation on every organization registered with
//! [`FakeGithub::org`]; installation tokens expire; plain tokens can be registered
//! ([`FakeGithub::token`]); anonymous callers may read public repositories only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

pub mod actions_oidc;
mod git;
mod pulls;
mod rulesets;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde_json::{Value, json};

/// A commit: its tree and parents.
#[derive(Clone, Debug, Default)]
pub struct FakeCommit {
    pub tree: String,
    pub parents: Vec<String>,
    pub message: String,
}

/// A pull request.
#[derive(Clone, Debug)]
pub struct FakePull {
    pub number: u64,
    pub title: String,
    pub head: String,
    pub base: String,
    pub state: String,
    pub body: String,
}

/// One repository.
#[derive(Debug)]
pub struct Repo {
    pub default_branch: String,
    pub public: bool,
    /// Tokens may only read it (GitHub's 403 "Resource not accessible by integration").
    pub read_only: bool,
    /// name -> (object type, object sha); annotated tags point at a tag object.
    pub tags: BTreeMap<String, (String, String)>,
    /// tag object sha -> commit sha.
    pub tag_objects: BTreeMap<String, String>,
    pub branches: BTreeMap<String, String>,
    pub releases: BTreeSet<String>,
    /// Release tags in creation order: the last is `releases/latest`.
    pub release_order: Vec<String>,
    /// commit -> the pull requests GitHub associates with it.
    pub pulls: BTreeMap<String, Vec<Value>>,
    pub commits: BTreeMap<String, FakeCommit>,
    /// tree sha -> path -> content.
    pub trees: BTreeMap<String, BTreeMap<String, String>>,
    pub pull_requests: Vec<FakePull>,
    /// issue (pull request) number -> labels.
    pub labels: BTreeMap<u64, Vec<String>>,
    /// ruleset id -> the ruleset as GitHub stores it.
    pub rulesets: BTreeMap<u64, Value>,
}

impl Default for Repo {
    fn default() -> Self {
        Repo {
            default_branch: "main".into(),
            public: false,
            read_only: false,
            tags: BTreeMap::new(),
            tag_objects: BTreeMap::new(),
            branches: BTreeMap::new(),
            releases: BTreeSet::new(),
            release_order: Vec::new(),
            pulls: BTreeMap::new(),
            commits: BTreeMap::new(),
            trees: BTreeMap::new(),
            pull_requests: Vec::new(),
            labels: BTreeMap::new(),
            rulesets: BTreeMap::new(),
        }
    }
}

impl Repo {
    /// The files of the commit a branch (or commit sha) names.
    #[must_use]
    pub fn files_at(&self, reference: &str) -> Option<&BTreeMap<String, String>> {
        let commit = self
            .branches
            .get(reference)
            .map(String::as_str)
            .unwrap_or(reference);
        self.trees.get(&self.commits.get(commit)?.tree)
    }
}

#[derive(Debug, Default)]
pub struct World {
    pub repos: BTreeMap<String, Repo>,
    /// Organizations the App is installed on.
    pub orgs: BTreeSet<String>,
    tokens: BTreeSet<String>,
    /// Every request, as `METHOD /path?query`.
    pub requests: Vec<String>,
    /// The body of every installation token request, in order.
    pub issued: Vec<Value>,
    /// Tokens revoked with `DELETE /installation/token`.
    pub revoked: Vec<String>,
    /// Answer scoped token requests with `administration: write` too, as a misbehaving
    /// server would: clients must refuse and revoke such a token.
    pub widen_tokens: bool,
}

struct Inner {
    world: Mutex<World>,
    public_key: Vec<u8>,
    token_lifetime: u64,
    tokens_issued: Arc<AtomicUsize>,
    next: AtomicU64,
}

#[allow(missing_debug_implementations)]
pub struct FakeGithub {
    url: String,
    private_key: String,
    inner: Arc<Inner>,
    pub tokens_issued: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "message": message, "documentation_url": "https://docs.github.com/rest", "status": status.as_u16().to_string() })),
    )
        .into_response()
}

pub(crate) fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not Found")
}

pub(crate) fn bad_credentials() -> Response {
    error(StatusCode::UNAUTHORIZED, "Bad credentials")
}

/// 422 "Validation Failed", as GitHub answers a body it cannot take.
pub(crate) fn invalid(message: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "message": "Validation Failed",
            "errors": [message],
            "documentation_url": "https://docs.github.com/rest",
            "status": "422",
        })),
    )
        .into_response()
}

fn iso(secs: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap()).unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Who a request comes as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    Token,
    Anonymous,
    Refused,
}

impl Inner {
    fn caller(&self, headers: &HeaderMap) -> Caller {
        match headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("token "))
            }) {
            None => Caller::Anonymous,
            Some(Some(token)) if self.world.lock().unwrap().tokens.contains(token) => Caller::Token,
            Some(_) => Caller::Refused,
        }
    }

    fn app_jwt(&self, headers: &HeaderMap) -> bool {
        let jwt = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        let key = DecodingKey::from_rsa_pem(&self.public_key).unwrap();
        decode::<Value>(jwt, &key, &validation).is_ok_and(|d| d.claims["iss"] == "4242")
    }

    pub(crate) fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::SeqCst)
    }
}

/// Runs `f` on repository `owner/repo` after checking the caller: tokens may do anything,
/// anonymous callers may only read public repositories.
pub(crate) fn with_repo(
    inner: &Inner,
    headers: &HeaderMap,
    method: &Method,
    owner: &str,
    repo: &str,
    f: impl FnOnce(&mut Repo) -> Response,
) -> Response {
    let caller = inner.caller(headers);
    let mut world = inner.world.lock().unwrap();
    if caller == Caller::Refused {
        return bad_credentials();
    }
    let Some(r) = world.repos.get_mut(&format!("{owner}/{repo}")) else {
        return not_found();
    };
    if r.read_only && method != Method::GET {
        return error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        );
    }
    if caller == Caller::Anonymous && (!r.public || method != Method::GET) {
        // GitHub hides private repositories from anonymous callers.
        return if r.public {
            error(StatusCode::UNAUTHORIZED, "Requires authentication")
        } else {
            not_found()
        };
    }
    f(r)
}

/// `POST /app/installations/{id}/access_tokens`: a token for every repository of the
/// installation, or, with `repositories` and `permissions` in the body, exactly those — as
/// GitHub answers: 422 when a repository is not the installation's, the scope echoed in the
/// answer (`repository_selection: selected`, `repositories` as repository objects).
async fn access_token(
    State(inner): State<Arc<Inner>>,
    Path(installation): Path<u64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !inner.app_jwt(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        );
    }
    if installation != 7 {
        return not_found();
    }
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return error(StatusCode::BAD_REQUEST, "Problems parsing JSON"),
        }
    };
    let mut world = inner.world.lock().unwrap();
    let mut repositories = Vec::new();
    if let Some(names) = request["repositories"].as_array() {
        for name in names {
            let name = name.as_str().unwrap_or_default();
            // Names are case-insensitive on GitHub; the answer carries the repository's own.
            let found = world.repos.iter().enumerate().find(|(_, (full, _))| {
                full.split_once('/').is_some_and(|(owner, repo)| {
                    world.orgs.contains(owner) && repo.eq_ignore_ascii_case(name)
                })
            });
            let Some((index, (full, repo))) = found else {
                return invalid(
                    "There is at least one repository that does not exist or is not accessible to the parent installation.",
                );
            };
            let (_, short) = full.split_once('/').unwrap();
            repositories.push(json!({
                "id": 1000 + index,
                "name": short,
                "full_name": full,
                "private": !repo.public,
            }));
        }
    }
    let mut permissions = match request.get("permissions") {
        Some(p) if p.is_object() => p.clone(),
        _ => json!({ "contents": "write", "pull_requests": "write", "administration": "write" }),
    };
    // GitHub adds read access to metadata to every token scoped to repositories.
    if request.get("repositories").is_some() {
        permissions["metadata"] = json!("read");
    }
    if world.widen_tokens {
        permissions["administration"] = json!("write");
    }
    let n = inner.next();
    let token = format!("ghs_{n:036}");
    world.tokens.insert(token.clone());
    world.issued.push(request.clone());
    drop(world);
    inner.tokens_issued.fetch_add(1, Ordering::SeqCst);
    let mut answer = json!({
        "token": token,
        "expires_at": iso(now() + inner.token_lifetime),
        "permissions": permissions,
        "repository_selection": "all",
    });
    if request.get("repositories").is_some() {
        answer["repository_selection"] = json!("selected");
        answer["repositories"] = Value::Array(repositories);
    }
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// `GET /app/installations/{id}`: the App's installation, as the App.
async fn get_installation(
    State(inner): State<Arc<Inner>>,
    Path(installation): Path<u64>,
    headers: HeaderMap,
) -> Response {
    if !inner.app_jwt(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        );
    }
    let world = inner.world.lock().unwrap();
    let Some(org) = world.orgs.iter().next().filter(|_| installation == 7) else {
        return not_found();
    };
    Json(json!({
        "id": 7,
        "account": { "login": org, "type": "Organization" },
        "app_id": 4242,
        "target_type": "Organization",
        "repository_selection": "all",
        "permissions": { "contents": "write", "pull_requests": "write", "administration": "write" },
    }))
    .into_response()
}

/// `DELETE /installation/token`: revokes the token it is called with.
async fn revoke_token(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        })
        .unwrap_or_default()
        .to_string();
    let mut world = inner.world.lock().unwrap();
    if !world.tokens.remove(&token) {
        return bad_credentials();
    }
    world.revoked.push(token);
    StatusCode::NO_CONTENT.into_response()
}

async fn org_installation(
    State(inner): State<Arc<Inner>>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !inner.app_jwt(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        );
    }
    if !inner.world.lock().unwrap().orgs.contains(&org) {
        return not_found();
    }
    Json(json!({
        "id": 7,
        "account": { "login": org, "type": "Organization" },
        "app_id": 4242,
        "target_type": "Organization",
        "repository_selection": "all",
        "permissions": { "contents": "write", "pull_requests": "write", "administration": "write" },
    }))
    .into_response()
}

async fn get_repo(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        Json(json!({
            "id": 1,
            "name": repo,
            "full_name": format!("{owner}/{repo}"),
            "private": !r.public,
            "default_branch": r.default_branch,
        }))
        .into_response()
    })
}

/// Records every request as `METHOD /path?query`.
async fn record(
    State(inner): State<Arc<Inner>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let line = format!("{} {}", request.method(), request.uri());
    inner.world.lock().unwrap().requests.push(line);
    next.run(request).await
}

pub(crate) fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A content-addressed id of `text`, 40 hex digits like git's.
pub(crate) fn object_id(text: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(text.as_bytes());
    hex::encode(digest).get(..40).unwrap().to_string()
}

impl FakeGithub {
    /// A server with a fresh App key pair; installation tokens live `token_lifetime` seconds.
    pub async fn start(token_lifetime: u64) -> FakeGithub {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("app.pem");
        let public = dir.path().join("app.pub.pem");
        // PKCS#1, as GitHub hands out App keys.
        openssl(&[
            "genrsa",
            "-traditional",
            "-out",
            key.to_str().unwrap(),
            "2048",
        ]);
        openssl(&[
            "rsa",
            "-in",
            key.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ]);
        let tokens_issued = Arc::new(AtomicUsize::new(0));
        let inner = Arc::new(Inner {
            world: Mutex::new(World::default()),
            public_key: std::fs::read(&public).unwrap(),
            token_lifetime,
            tokens_issued: tokens_issued.clone(),
            next: AtomicU64::new(1),
        });
        let app = axum::Router::new()
            .route("/app/installations/{id}/access_tokens", post(access_token))
            .route("/orgs/{org}/installation", get(org_installation))
            .route("/installation/token", axum::routing::delete(revoke_token))
            .route("/app/installations/{id}", get(get_installation))
            .route("/repos/{owner}/{repo}", get(get_repo))
            .merge(git::routes())
            .merge(pulls::routes())
            .merge(rulesets::routes())
            .layer(axum::middleware::from_fn_with_state(inner.clone(), record))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeGithub {
            url,
            private_key: std::fs::read_to_string(&key).unwrap(),
            inner,
            tokens_issued,
            _dir: dir,
        }
    }

    #[must_use]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    #[must_use]
    pub fn private_key(&self) -> String {
        self.private_key.clone()
    }

    pub fn state(&self) -> MutexGuard<'_, World> {
        self.inner.world.lock().unwrap()
    }

    /// Revokes every token issued so far.
    pub fn revoke_tokens(&self) {
        self.state().tokens.clear();
    }

    /// Registers a plain token (a personal or `GITHUB_TOKEN` stand-in).
    pub fn token(&self, token: &str) {
        self.state().tokens.insert(token.to_string());
    }

    /// Installs the App on an organization.
    pub fn org(&self, org: &str) {
        self.state().orgs.insert(org.to_string());
    }

    pub fn repo(&self, full: &str) {
        self.state().repos.entry(full.to_string()).or_default();
    }

    /// A public repository whose `branch` holds `files` (one commit).
    pub fn public_repo(&self, full: &str) {
        self.repo(full);
        self.state().repos.get_mut(full).unwrap().public = true;
    }

    /// Commits `files` (the whole tree) on `branch`, after its current commit; returns the
    /// commit sha.
    pub fn commit_files(&self, full: &str, branch: &str, files: &[(&str, &str)]) -> String {
        let n = self.inner.next();
        let mut world = self.state();
        let r = world.repos.get_mut(full).unwrap();
        let tree: BTreeMap<String, String> = files
            .iter()
            .map(|(p, c)| ((*p).to_string(), (*c).to_string()))
            .collect();
        let tree_id = git::tree_id(&tree);
        r.trees.insert(tree_id.clone(), tree);
        let parents = r.branches.get(branch).cloned().into_iter().collect();
        let sha = object_id(&format!("commit {n}"));
        r.commits.insert(
            sha.clone(),
            FakeCommit {
                tree: tree_id,
                parents,
                message: format!("commit {n}"),
            },
        );
        r.branches.insert(branch.to_string(), sha.clone());
        sha
    }

    /// Merges pull request `number`: its base branch takes the head branch's tree in a new
    /// commit, and the pull request closes.
    pub fn merge(&self, full: &str, number: u64) {
        let n = self.inner.next();
        let mut world = self.state();
        let r = world.repos.get_mut(full).unwrap();
        let pr = r
            .pull_requests
            .iter_mut()
            .find(|p| p.number == number)
            .unwrap();
        pr.state = "closed".into();
        let (head, base) = (pr.head.clone(), pr.base.clone());
        let tree = r.commits[&r.branches[&head]].tree.clone();
        let sha = object_id(&format!("merge {n}"));
        let parents = vec![r.branches[&base].clone()];
        r.commits.insert(
            sha.clone(),
            FakeCommit {
                tree,
                parents,
                message: format!("merge #{number}"),
            },
        );
        r.branches.insert(base, sha);
    }

    /// Tags a new commit; returns the commit sha.
    pub fn tag(&self, full: &str, tag: &str, annotated: bool) -> String {
        let n = self.inner.next();
        let commit = format!("{n:040x}");
        let mut world = self.state();
        let r = world.repos.get_mut(full).unwrap();
        if annotated {
            let object = format!("{:040x}", n + 1_000_000);
            r.tag_objects.insert(object.clone(), commit.clone());
            r.tags.insert(tag.into(), ("tag".into(), object));
        } else {
            r.tags.insert(tag.into(), ("commit".into(), commit.clone()));
        }
        commit
    }

    /// Publishes a release of `tag` (the latest from now on).
    pub fn release(&self, full: &str, tag: &str) {
        let mut world = self.state();
        let r = world.repos.get_mut(full).unwrap();
        r.releases.insert(tag.to_string());
        r.release_order.push(tag.to_string());
    }

    pub fn pull(
        &self,
        full: &str,
        commit: &str,
        number: u64,
        title: &str,
        labels: &[&str],
        author: &str,
    ) {
        let labels: Vec<Value> = labels
            .iter()
            .map(|l| json!({ "id": 1, "name": l, "color": "ededed" }))
            .collect();
        self.state()
            .repos
            .get_mut(full)
            .unwrap()
            .pulls
            .entry(commit.into())
            .or_default()
            .push(json!({
                "number": number, "title": title, "state": "closed", "labels": labels,
                "user": { "login": author, "id": 1, "type": "User" },
                "merge_commit_sha": commit,
            }));
    }
}
