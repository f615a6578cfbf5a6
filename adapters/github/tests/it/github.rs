//! A local server answering as the GitHub REST API documents it, for the endpoints the adapter
//! uses: status codes and JSON shapes as in docs.github.com (2022-11-28 API version).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde_json::{Value, json};

#[derive(Default)]
pub(crate) struct Repo {
    /// name -> (object type, object sha); annotated tags point at a tag object.
    pub(crate) tags: BTreeMap<String, (String, String)>,
    /// tag object sha -> commit sha.
    pub(crate) tag_objects: BTreeMap<String, String>,
    pub(crate) branches: BTreeMap<String, String>,
    pub(crate) releases: BTreeSet<String>,
    pub(crate) pulls: BTreeMap<String, Vec<Value>>,
}

#[derive(Default)]
pub(crate) struct World {
    pub(crate) repos: BTreeMap<String, Repo>,
    tokens: BTreeSet<String>,
}

struct Inner {
    world: Mutex<World>,
    public_key: Vec<u8>,
    token_lifetime: u64,
    tokens_issued: Arc<AtomicUsize>,
    next: AtomicU64,
}

pub(crate) struct FakeGithub {
    url: String,
    private_key: String,
    inner: Arc<Inner>,
    pub(crate) tokens_issued: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404" })),
    )
        .into_response()
}

fn iso(secs: u64) -> String {
    // Days to civil date (Howard Hinnant's algorithm), for `expires_at`.
    let days = i64::try_from(secs / 86_400).unwrap();
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Inner {
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        self.world.lock().unwrap().tokens.contains(token)
    }
}

fn bad_credentials() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401" })),
    )
        .into_response()
}

async fn access_token(
    State(inner): State<Arc<Inner>>,
    Path(installation): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let jwt = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    let key = DecodingKey::from_rsa_pem(&inner.public_key).unwrap();
    let Ok(data) = decode::<Value>(jwt, &key, &validation) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "message": "A JSON web token could not be decoded", "documentation_url": "https://docs.github.com/rest" })),
        )
            .into_response();
    };
    if data.claims["iss"] != "4242" || installation != 7 {
        return not_found();
    }
    let n = inner.next.fetch_add(1, Ordering::SeqCst);
    let token = format!("ghs_{n:036}");
    inner.world.lock().unwrap().tokens.insert(token.clone());
    inner.tokens_issued.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "expires_at": iso(now() + inner.token_lifetime),
            "permissions": { "contents": "write", "pull_requests": "read" },
            "repository_selection": "selected",
        })),
    )
        .into_response()
}

fn ref_body(owner: &str, repo: &str, name: &str, kind: &str, sha: &str) -> Value {
    json!({
        "ref": name,
        "node_id": "REF_kwDOAA",
        "url": format!("https://api.github.com/repos/{owner}/{repo}/git/{name}"),
        "object": { "type": kind, "sha": sha, "url": format!("https://api.github.com/repos/{owner}/{repo}/git/{kind}s/{sha}") },
    })
}

async fn get_ref(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, reference)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !inner.authorized(&headers) {
        return bad_credentials();
    }
    let world = inner.world.lock().unwrap();
    let Some(r) = world.repos.get(&format!("{owner}/{repo}")) else {
        return not_found();
    };
    let found = if let Some(branch) = reference.strip_prefix("heads/") {
        r.branches
            .get(branch)
            .map(|sha| ("commit".to_string(), sha.clone()))
    } else if let Some(tag) = reference.strip_prefix("tags/") {
        r.tags.get(tag).cloned()
    } else {
        None
    };
    match found {
        Some((kind, sha)) => Json(ref_body(
            &owner,
            &repo,
            &format!("refs/{reference}"),
            &kind,
            &sha,
        ))
        .into_response(),
        None => not_found(),
    }
}

async fn get_tag_object(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !inner.authorized(&headers) {
        return bad_credentials();
    }
    let world = inner.world.lock().unwrap();
    let Some(commit) = world
        .repos
        .get(&format!("{owner}/{repo}"))
        .and_then(|r| r.tag_objects.get(&sha))
    else {
        return not_found();
    };
    Json(json!({
        "node_id": "TAG_kwDOAA", "sha": sha, "tag": "annotated", "message": "release",
        "tagger": { "name": "CI", "email": "ci@example.com", "date": "2026-11-27T00:00:00Z" },
        "object": { "type": "commit", "sha": commit, "url": "" },
        "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null },
    }))
    .into_response()
}

async fn create_ref(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !inner.authorized(&headers) {
        return bad_credentials();
    }
    let mut world = inner.world.lock().unwrap();
    let Some(r) = world.repos.get_mut(&format!("{owner}/{repo}")) else {
        return not_found();
    };
    let (Some(name), Some(sha)) = (body["ref"].as_str(), body["sha"].as_str()) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "message": "Invalid request." })),
        )
            .into_response();
    };
    let Some(branch) = name.strip_prefix("refs/heads/") else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "message": "Reference name must start with refs/" })),
        )
            .into_response();
    };
    if r.branches.contains_key(branch) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "message": "Reference already exists", "documentation_url": "https://docs.github.com/rest/git/refs#create-a-reference", "status": "422" })),
        )
            .into_response();
    }
    r.branches.insert(branch.to_string(), sha.to_string());
    (
        StatusCode::CREATED,
        Json(ref_body(&owner, &repo, name, "commit", sha)),
    )
        .into_response()
}

async fn get_release(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, tag)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !inner.authorized(&headers) {
        return bad_credentials();
    }
    let world = inner.world.lock().unwrap();
    match world.repos.get(&format!("{owner}/{repo}")) {
        Some(r) if r.releases.contains(&tag) => Json(
            json!({ "id": 1, "tag_name": tag, "name": tag, "draft": false, "prerelease": false }),
        )
        .into_response(),
        _ => not_found(),
    }
}

async fn create_release(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !inner.authorized(&headers) {
        return bad_credentials();
    }
    let mut world = inner.world.lock().unwrap();
    let Some(r) = world.repos.get_mut(&format!("{owner}/{repo}")) else {
        return not_found();
    };
    let tag = body["tag_name"].as_str().unwrap_or_default().to_string();
    if !r.releases.insert(tag.clone()) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "message": "Validation Failed",
                "errors": [{ "resource": "Release", "code": "already_exists", "field": "tag_name" }],
                "documentation_url": "https://docs.github.com/rest/releases/releases#create-a-release",
                "status": "422",
            })),
        )
            .into_response();
    }
    (
        StatusCode::CREATED,
        Json(json!({ "id": 2, "tag_name": tag, "name": body["name"], "body": body["body"] })),
    )
        .into_response()
}

async fn commit_pulls(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !inner.authorized(&headers) {
        return bad_credentials();
    }
    let world = inner.world.lock().unwrap();
    let Some(r) = world.repos.get(&format!("{owner}/{repo}")) else {
        return not_found();
    };
    let known = r.pulls.contains_key(&sha)
        || r.tags.values().any(|(_, s)| *s == sha)
        || r.tag_objects.values().any(|c| *c == sha);
    if !known {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "message": format!("No commit found for SHA: {sha}"), "documentation_url": "https://docs.github.com/rest/commits/commits#list-pull-requests-associated-with-a-commit", "status": "422" })),
        )
            .into_response();
    }
    Json(Value::Array(r.pulls.get(&sha).cloned().unwrap_or_default())).into_response()
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl FakeGithub {
    /// A server with a fresh App key pair; installation tokens live `token_lifetime` seconds.
    pub(crate) async fn start(token_lifetime: u64) -> FakeGithub {
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
            .route("/repos/{owner}/{repo}/git/ref/{*reference}", get(get_ref))
            .route("/repos/{owner}/{repo}/git/tags/{sha}", get(get_tag_object))
            .route("/repos/{owner}/{repo}/git/refs", post(create_ref))
            .route(
                "/repos/{owner}/{repo}/releases/tags/{tag}",
                get(get_release),
            )
            .route("/repos/{owner}/{repo}/releases", post(create_release))
            .route(
                "/repos/{owner}/{repo}/commits/{sha}/pulls",
                get(commit_pulls),
            )
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

    pub(crate) fn url(&self) -> String {
        self.url.clone()
    }

    pub(crate) fn private_key(&self) -> String {
        self.private_key.clone()
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, World> {
        self.inner.world.lock().unwrap()
    }

    /// Revokes every installation token issued so far.
    pub(crate) fn revoke_tokens(&self) {
        self.state().tokens.clear();
    }

    pub(crate) fn repo(&self, full: &str) {
        self.state().repos.entry(full.to_string()).or_default();
    }

    /// Tags a new commit; returns the commit sha.
    pub(crate) fn tag(&self, full: &str, tag: &str, annotated: bool) -> String {
        let n = self.inner.next.fetch_add(1, Ordering::SeqCst);
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

    pub(crate) fn pull(
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
