//! Pull requests (those of a commit, listing, opening), labels and releases.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::{FakePull, Inner, invalid, not_found, with_repo};

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/commits/{sha}/pulls",
            get(commit_pulls),
        )
        .route(
            "/repos/{owner}/{repo}/pulls",
            get(list_pulls).post(open_pull),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}",
            axum::routing::patch(update_pull),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/labels",
            post(add_labels),
        )
        .route(
            "/repos/{owner}/{repo}/releases/tags/{tag}",
            get(get_release),
        )
        .route("/repos/{owner}/{repo}/releases/latest", get(latest_release))
        .route("/repos/{owner}/{repo}/releases", post(create_release))
}

async fn commit_pulls(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        let known = r.pulls.contains_key(&sha)
            || r.tags.values().any(|(_, s)| *s == sha)
            || r.tag_objects.values().any(|c| *c == sha)
            || r.commits.contains_key(&sha);
        if !known {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "message": format!("No commit found for SHA: {sha}"), "documentation_url": "https://docs.github.com/rest/commits/commits#list-pull-requests-associated-with-a-commit", "status": "422" })),
            )
                .into_response();
        }
        Json(Value::Array(r.pulls.get(&sha).cloned().unwrap_or_default())).into_response()
    })
}

fn pull_body(owner: &str, repo: &str, p: &FakePull) -> Value {
    json!({
        "number": p.number,
        "state": p.state,
        "title": p.title,
        "body": p.body,
        "html_url": format!("https://github.com/{owner}/{repo}/pull/{}", p.number),
        "head": { "ref": p.head, "label": format!("{owner}:{}", p.head) },
        "base": { "ref": p.base, "label": format!("{owner}:{}", p.base) },
        "user": { "login": "infrastream[bot]", "type": "Bot" },
    })
}

async fn list_pulls(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        let state = query.get("state").map_or("open", String::as_str);
        let list: Vec<Value> = r
            .pull_requests
            .iter()
            .filter(|p| state == "all" || p.state == state)
            .filter(|p| {
                query
                    .get("head")
                    .is_none_or(|h| *h == format!("{owner}:{}", p.head))
            })
            .filter(|p| query.get("base").is_none_or(|b| *b == p.base))
            .map(|p| pull_body(&owner, &repo, p))
            .collect();
        Json(Value::Array(list)).into_response()
    })
}

async fn open_pull(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        let (Some(title), Some(head), Some(base)) = (
            body["title"].as_str(),
            body["head"].as_str(),
            body["base"].as_str(),
        ) else {
            return invalid("title, head and base are required");
        };
        if !r.branches.contains_key(head) || !r.branches.contains_key(base) {
            return invalid("head and base must be branches");
        }
        let open = r
            .pull_requests
            .iter()
            .any(|p| p.state == "open" && p.head == head && p.base == base);
        if open {
            return invalid(&format!(
                "A pull request already exists for {owner}:{head}."
            ));
        }
        let number = r.pull_requests.len() as u64 + 1;
        let pull = FakePull {
            number,
            title: title.to_string(),
            head: head.to_string(),
            base: base.to_string(),
            state: "open".into(),
            body: body["body"].as_str().unwrap_or_default().to_string(),
        };
        let response = pull_body(&owner, &repo, &pull);
        r.pull_requests.push(pull);
        (StatusCode::CREATED, Json(response)).into_response()
    })
}

async fn update_pull(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        let Some(pull) = r.pull_requests.iter_mut().find(|p| p.number == number) else {
            return not_found();
        };
        match body.get("state").map(Value::as_str) {
            None => {}
            Some(Some(state @ ("open" | "closed"))) => pull.state = state.to_string(),
            Some(_) => return invalid("state must be open or closed"),
        }
        if let Some(title) = body["title"].as_str() {
            pull.title = title.to_string();
        }
        Json(pull_body(&owner, &repo, pull)).into_response()
    })
}

async fn add_labels(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        let known = r.pull_requests.iter().any(|p| p.number == number)
            || r.pulls
                .values()
                .flatten()
                .any(|p| p["number"].as_u64() == Some(number));
        if !known {
            return not_found();
        }
        let Some(labels) = body["labels"].as_array() else {
            return invalid("labels is required");
        };
        let on = r.labels.entry(number).or_default();
        for l in labels.iter().filter_map(Value::as_str) {
            if !on.iter().any(|x| x == l) {
                on.push(l.to_string());
            }
        }
        Json(Value::Array(
            on.iter()
                .map(|l| json!({ "id": 1, "name": l, "color": "ededed", "default": false }))
                .collect(),
        ))
        .into_response()
    })
}

fn release_body(tag: &str) -> Value {
    json!({ "id": 1, "tag_name": tag, "name": tag, "draft": false, "prerelease": false })
}

async fn get_release(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, tag)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        if r.releases.contains(&tag) {
            Json(release_body(&tag)).into_response()
        } else {
            not_found()
        }
    })
}

async fn latest_release(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        match r.release_order.last() {
            Some(tag) => Json(release_body(tag)).into_response(),
            None => not_found(),
        }
    })
}

async fn create_release(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
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
        r.release_order.push(tag.clone());
        (
            StatusCode::CREATED,
            Json(json!({ "id": 2, "tag_name": tag, "name": body["name"], "body": body["body"] })),
        )
            .into_response()
    })
}
