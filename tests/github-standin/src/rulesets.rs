//! Repository rulesets: list, create, get, update, delete, with the request body checked
//! against the documented shape (an unknown key or a missing parameter is 422, as a typo in
//! our generator must fail here rather than on GitHub).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::{Inner, Repo, invalid, not_found, with_repo};

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/repos/{owner}/{repo}/rulesets", get(list).post(create))
        .route(
            "/repos/{owner}/{repo}/rulesets/{id}",
            get(get_one).put(update).delete(remove),
        )
}

fn only_keys(o: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}: unknown key {k}")),
        None => Ok(()),
    }
}

fn bool_at(o: &Map<String, Value>, key: &str, what: &str) -> Result<(), String> {
    match o.get(key) {
        Some(Value::Bool(_)) => Ok(()),
        _ => Err(format!("{what}.{key} must be a boolean")),
    }
}

fn strings(v: Option<&Value>, what: &str) -> Result<(), String> {
    match v {
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        _ => Err(format!("{what} must be an array of strings")),
    }
}

fn check_rule(rule: &Value) -> Result<(), String> {
    let o = rule.as_object().ok_or("a rule must be an object")?;
    only_keys(o, &["type", "parameters"], "rule")?;
    let kind = o.get("type").and_then(Value::as_str).unwrap_or_default();
    let params = o.get("parameters").and_then(Value::as_object);
    match kind {
        "creation"
        | "deletion"
        | "required_linear_history"
        | "required_signatures"
        | "non_fast_forward" => {
            if o.contains_key("parameters") {
                return Err(format!("rule {kind} takes no parameters"));
            }
        }
        "update" => {
            if let Some(p) = params {
                only_keys(p, &["update_allows_fetch_and_merge"], "update")?;
            }
        }
        "pull_request" => {
            let p = params.ok_or("pull_request needs parameters")?;
            only_keys(
                p,
                &[
                    "allowed_merge_methods",
                    "dismiss_stale_reviews_on_push",
                    "require_code_owner_review",
                    "require_last_push_approval",
                    "required_approving_review_count",
                    "required_review_thread_resolution",
                ],
                "pull_request",
            )?;
            for key in [
                "dismiss_stale_reviews_on_push",
                "require_code_owner_review",
                "require_last_push_approval",
                "required_review_thread_resolution",
            ] {
                bool_at(p, key, "pull_request")?;
            }
            match p
                .get("required_approving_review_count")
                .and_then(Value::as_u64)
            {
                Some(n) if n <= 10 => {}
                _ => {
                    return Err(
                        "pull_request.required_approving_review_count must be 0 to 10".into(),
                    );
                }
            }
            if let Some(methods) = p.get("allowed_merge_methods") {
                let ok = methods.as_array().is_some_and(|m| {
                    !m.is_empty()
                        && m.iter()
                            .all(|x| matches!(x.as_str(), Some("merge" | "squash" | "rebase")))
                });
                if !ok {
                    return Err("allowed_merge_methods takes merge, squash, rebase".into());
                }
            }
        }
        "required_status_checks" => {
            let p = params.ok_or("required_status_checks needs parameters")?;
            only_keys(
                p,
                &[
                    "do_not_enforce_on_create",
                    "required_status_checks",
                    "strict_required_status_checks_policy",
                ],
                "required_status_checks",
            )?;
            bool_at(
                p,
                "strict_required_status_checks_policy",
                "required_status_checks",
            )?;
            let checks = p
                .get("required_status_checks")
                .and_then(Value::as_array)
                .ok_or("required_status_checks.required_status_checks must be an array")?;
            for c in checks {
                let c = c.as_object().ok_or("a status check must be an object")?;
                only_keys(c, &["context", "integration_id"], "status check")?;
                if !c.get("context").is_some_and(Value::is_string) {
                    return Err("a status check needs a context".into());
                }
                if c.get("integration_id").is_some_and(|i| !i.is_u64()) {
                    return Err("integration_id must be an integer".into());
                }
            }
        }
        other => return Err(format!("unknown rule type {other}")),
    }
    Ok(())
}

/// The documented request body of a repository ruleset.
fn check(body: &Value) -> Result<(), String> {
    let o = body.as_object().ok_or("the body must be an object")?;
    only_keys(
        o,
        &[
            "name",
            "target",
            "enforcement",
            "bypass_actors",
            "conditions",
            "rules",
        ],
        "ruleset",
    )?;
    if o.get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("name is required".into());
    }
    if !matches!(
        o.get("target").map(Value::as_str),
        None | Some(Some("branch" | "tag" | "push"))
    ) {
        return Err("target must be branch, tag or push".into());
    }
    if !matches!(
        o.get("enforcement").and_then(Value::as_str),
        Some("disabled" | "active" | "evaluate")
    ) {
        return Err("enforcement must be disabled, active or evaluate".into());
    }
    if let Some(actors) = o.get("bypass_actors") {
        let ok = actors.as_array().is_some_and(|a| {
            a.iter().all(|x| {
                x.get("actor_type").is_some_and(Value::is_string)
                    && x.get("bypass_mode").is_some_and(Value::is_string)
            })
        });
        if !ok {
            return Err("bypass_actors entries need actor_type and bypass_mode".into());
        }
    }
    if let Some(conditions) = o.get("conditions") {
        let c = conditions
            .as_object()
            .ok_or("conditions must be an object")?;
        only_keys(c, &["ref_name"], "conditions")?;
        let r = c
            .get("ref_name")
            .and_then(Value::as_object)
            .ok_or("conditions.ref_name is required")?;
        only_keys(r, &["include", "exclude"], "conditions.ref_name")?;
        strings(r.get("include"), "conditions.ref_name.include")?;
        strings(r.get("exclude"), "conditions.ref_name.exclude")?;
    }
    if let Some(rules) = o.get("rules") {
        for rule in rules.as_array().ok_or("rules must be an array")? {
            check_rule(rule)?;
        }
    }
    Ok(())
}

/// The ruleset as GitHub answers it: the request, plus what GitHub adds.
fn stored(owner: &str, repo: &str, id: u64, body: &Value) -> Value {
    let mut v = body.clone();
    let o = v.as_object_mut().unwrap();
    o.entry("target").or_insert(json!("branch"));
    o.entry("bypass_actors").or_insert(json!([]));
    o.insert("id".into(), json!(id));
    o.insert("source_type".into(), json!("Repository"));
    o.insert("source".into(), json!(format!("{owner}/{repo}")));
    o.insert("node_id".into(), json!("RRS_lACqUmVwb3NpdG9yec4"));
    o.insert("current_user_can_bypass".into(), json!("never"));
    o.insert("created_at".into(), json!("2026-12-01T00:00:00.000Z"));
    o.insert("updated_at".into(), json!("2026-12-01T00:00:00.000Z"));
    o.insert(
        "_links".into(),
        json!({ "self": { "href": format!("https://api.github.com/repos/{owner}/{repo}/rulesets/{id}") } }),
    );
    // GitHub fills in the merge methods a pull_request rule leaves out.
    if let Some(rules) = o.get_mut("rules").and_then(Value::as_array_mut) {
        for rule in rules {
            if rule["type"] == "pull_request" {
                rule["parameters"]
                    .as_object_mut()
                    .unwrap()
                    .entry("allowed_merge_methods")
                    .or_insert(json!(["merge", "squash", "rebase"]));
            }
        }
    }
    v
}

fn name_taken(r: &Repo, name: &Value, except: Option<u64>) -> bool {
    r.rulesets
        .iter()
        .any(|(id, x)| Some(*id) != except && x["name"] == *name)
}

async fn list(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        let list: Vec<Value> = r
            .rulesets
            .values()
            .map(|x| {
                json!({
                    "id": x["id"], "name": x["name"], "target": x["target"],
                    "source_type": x["source_type"], "source": x["source"],
                    "enforcement": x["enforcement"], "node_id": x["node_id"],
                    "_links": x["_links"], "created_at": x["created_at"], "updated_at": x["updated_at"],
                })
            })
            .collect();
        Json(Value::Array(list)).into_response()
    })
}

async fn create(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let id = inner.next() + 1000;
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        if let Err(e) = check(&body) {
            return invalid(&e);
        }
        if name_taken(r, &body["name"], None) {
            return invalid("Name must be unique");
        }
        let v = stored(&owner, &repo, id, &body);
        r.rulesets.insert(id, v.clone());
        (StatusCode::CREATED, Json(v)).into_response()
    })
}

async fn get_one(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        match r.rulesets.get(&id) {
            Some(v) => Json(v.clone()).into_response(),
            None => not_found(),
        }
    })
}

async fn update(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        if !r.rulesets.contains_key(&id) {
            return not_found();
        }
        if let Err(e) = check(&body) {
            return invalid(&e);
        }
        if name_taken(r, &body["name"], Some(id)) {
            return invalid("Name must be unique");
        }
        let v = stored(&owner, &repo, id, &body);
        r.rulesets.insert(id, v.clone());
        Json(v).into_response()
    })
}

async fn remove(
    State(inner): State<Arc<Inner>>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    with_repo(&inner, &headers, &method, &owner, &repo, |r| {
        match r.rulesets.remove(&id) {
            Some(_) => StatusCode::NO_CONTENT.into_response(),
            None => not_found(),
        }
    })
}
