//! Git data and contents: refs, annotated tags, trees, commits, file contents.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::{FakeCommit, Inner, Repo, invalid, not_found, object_id, with_repo};

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/repos/{owner}/{repo}/git/ref/{*reference}", get(get_ref))
        .route("/repos/{owner}/{repo}/git/tags/{sha}", get(get_tag_object))
        .route("/repos/{owner}/{repo}/git/refs", post(create_ref))
        .route(
            "/repos/{owner}/{repo}/git/refs/{*reference}",
            axum::routing::patch(update_ref),
        )
        .route("/repos/{owner}/{repo}/git/commits/{sha}", get(get_commit))
        .route("/repos/{owner}/{repo}/git/commits", post(create_commit))
        .route("/repos/{owner}/{repo}/git/trees", post(create_tree))
        .route("/repos/{owner}/{repo}/contents/{*path}", get(get_contents))
}

/// A tree's id: content-addressed, like git's, so equal trees have equal ids.
pub(crate) fn tree_id(tree: &BTreeMap<String, String>) -> String {
    let mut text = String::from("tree\n");
    for (path, content) in tree {
        text.push_str(&format!("{path}\0{}\n", object_id(content)));
    }
    object_id(&text)
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
    method: Method,
    headers: HeaderMap,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
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
    })
}

async fn get_tag_object(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        let Some(commit) = r.tag_objects.get(&sha) else {
            return not_found();
        };
        Json(json!({
            "node_id": "TAG_kwDOAA", "sha": sha, "tag": "annotated", "message": "release",
            "tagger": { "name": "CI", "email": "ci@example.com", "date": "2026-11-27T00:00:00Z" },
            "object": { "type": "commit", "sha": commit, "url": "" },
            "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null },
        }))
        .into_response()
    })
}

async fn create_ref(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        let (Some(name), Some(sha)) = (body["ref"].as_str(), body["sha"].as_str()) else {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "message": "Invalid request." })),
            )
                .into_response();
        };
        let (map_is_branch, short) = if let Some(b) = name.strip_prefix("refs/heads/") {
            (true, b)
        } else if let Some(t) = name.strip_prefix("refs/tags/") {
            (false, t)
        } else {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "message": "Reference name must start with refs/" })),
            )
                .into_response();
        };
        let exists = if map_is_branch {
            r.branches.contains_key(short)
        } else {
            r.tags.contains_key(short)
        };
        if exists {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "message": "Reference already exists", "documentation_url": "https://docs.github.com/rest/git/refs#create-a-reference", "status": "422" })),
            )
                .into_response();
        }
        if map_is_branch {
            r.branches.insert(short.to_string(), sha.to_string());
        } else {
            r.tags
                .insert(short.to_string(), ("commit".into(), sha.to_string()));
        }
        (
            StatusCode::CREATED,
            Json(ref_body(&owner, &repo, name, "commit", sha)),
        )
            .into_response()
    })
}

async fn update_ref(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, reference)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        let Some(branch) = reference.strip_prefix("heads/") else {
            return not_found();
        };
        let Some(sha) = body["sha"].as_str() else {
            return invalid("sha is required");
        };
        let Some(current) = r.branches.get(branch).cloned() else {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "message": "Reference does not exist" })),
            )
                .into_response();
        };
        let fast_forward = descends(r, sha, &current);
        if !fast_forward && body["force"] != true {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "message": "Update is not a fast forward" })),
            )
                .into_response();
        }
        r.branches.insert(branch.to_string(), sha.to_string());
        Json(ref_body(
            &owner,
            &repo,
            &format!("refs/{reference}"),
            "commit",
            sha,
        ))
        .into_response()
    })
}

/// Whether `commit` has `ancestor` in its history.
fn descends(r: &Repo, commit: &str, ancestor: &str) -> bool {
    let mut stack = vec![commit.to_string()];
    while let Some(c) = stack.pop() {
        if c == ancestor {
            return true;
        }
        if let Some(fc) = r.commits.get(&c) {
            stack.extend(fc.parents.iter().cloned());
        }
    }
    false
}

fn commit_body(sha: &str, c: &FakeCommit) -> Value {
    json!({
        "sha": sha,
        "node_id": "C_kwDOAA",
        "message": c.message,
        "author": { "name": "infrastream", "email": "ci@example.com", "date": "2026-12-01T00:00:00Z" },
        "committer": { "name": "GitHub", "email": "noreply@github.com", "date": "2026-12-01T00:00:00Z" },
        "tree": { "sha": c.tree, "url": "" },
        "parents": c.parents.iter().map(|p| json!({ "sha": p, "url": "", "html_url": "" })).collect::<Vec<_>>(),
        "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null },
    })
}

async fn get_commit(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        match r.commits.get(&sha) {
            Some(c) => Json(commit_body(&sha, c)).into_response(),
            None => not_found(),
        }
    })
}

async fn create_commit(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let n = inner.next();
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        let (Some(message), Some(tree)) = (body["message"].as_str(), body["tree"].as_str()) else {
            return invalid("message and tree are required");
        };
        if !r.trees.contains_key(tree) {
            return invalid("tree is not a tree of this repository");
        }
        let parents: Vec<String> = body["parents"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if parents.iter().any(|p| !r.commits.contains_key(p)) {
            return invalid("parents must be commits of this repository");
        }
        let commit = FakeCommit {
            tree: tree.to_string(),
            parents,
            message: message.to_string(),
        };
        let sha = object_id(&format!("commit {n} {message}"));
        let response = commit_body(&sha, &commit);
        r.commits.insert(sha, commit);
        (StatusCode::CREATED, Json(response)).into_response()
    })
}

async fn create_tree(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        let mut tree = match body["base_tree"].as_str() {
            Some(base) => match r.trees.get(base) {
                Some(t) => t.clone(),
                None => return invalid("base_tree is not a tree of this repository"),
            },
            None => BTreeMap::new(),
        };
        let Some(entries) = body["tree"].as_array() else {
            return invalid("tree is required");
        };
        for e in entries {
            let (Some(path), Some(mode), Some("blob")) =
                (e["path"].as_str(), e["mode"].as_str(), e["type"].as_str())
            else {
                return invalid("each entry needs path, mode and type blob");
            };
            if !matches!(mode, "100644" | "100755") || path.starts_with('/') || path.is_empty() {
                return invalid("entry mode or path is invalid");
            }
            match (e.get("content"), e.get("sha")) {
                (Some(Value::String(content)), None) => {
                    tree.insert(path.to_string(), content.clone());
                }
                (None, Some(Value::Null)) => {
                    tree.remove(path);
                }
                _ => return invalid("each entry has exactly one of content and sha"),
            }
        }
        let id = tree_id(&tree);
        let listing: Vec<Value> = tree
            .keys()
            .map(|p| json!({ "path": p, "mode": "100644", "type": "blob" }))
            .collect();
        r.trees.insert(id.clone(), tree);
        (
            StatusCode::CREATED,
            Json(json!({ "sha": id, "url": "", "tree": listing, "truncated": false })),
        )
            .into_response()
    })
}

async fn get_contents(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, path)): Path<(String, String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        let reference = query
            .get("ref")
            .cloned()
            .unwrap_or_else(|| r.default_branch.clone());
        let Some(files) = r.files_at(&reference) else {
            return not_found();
        };
        if let Some(content) = files.get(&path) {
            // GitHub wraps the base64 at 60 columns.
            let encoded = base64::engine::general_purpose::STANDARD.encode(content);
            let wrapped: Vec<String> = encoded
                .as_bytes()
                .chunks(60)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            let name = path.rsplit('/').next().unwrap_or_default();
            return Json(json!({
                "type": "file", "encoding": "base64", "size": content.len(),
                "name": name, "path": path, "sha": object_id(content),
                "content": wrapped.join("\n") + "\n",
            }))
            .into_response();
        }
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let mut entries: BTreeMap<String, &str> = BTreeMap::new();
        for p in files.keys().filter_map(|p| p.strip_prefix(&prefix)) {
            match p.split_once('/') {
                Some((dir, _)) => entries.insert(dir.to_string(), "dir"),
                None => entries.insert(p.to_string(), "file"),
            };
        }
        if entries.is_empty() {
            return not_found();
        }
        Json(Value::Array(
            entries
                .into_iter()
                .map(|(name, kind)| {
                    json!({ "type": kind, "name": name, "path": format!("{prefix}{name}") })
                })
                .collect(),
        ))
        .into_response()
    })
}
