//! The reads: holds, deployments (listed and one by one), health and metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use cd_core::pipeline::{DeploymentId, Rejection};
use cd_ports::{DeploymentFilter, ListCursor};

use super::error::ApiError;
use super::request::{PathArg, path_value};
use super::wire::ListQuery;
use crate::service::Shared;

/// The holds in force, by environment.
#[utoipa::path(get, path = "/v1/holds", tag = "queries", responses((status = 200, body = Object)))]
pub(super) async fn holds(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let holds = shared.driver.holds().await.map_err(ApiError::from_store)?;
    Ok(Json(holds).into_response())
}

/// Lists deployments, newest first, a page at a time: when more follow, the `Link` header names
/// the next page (`rel="next"`, with the `after` cursor).
#[utoipa::path(get, path = "/v1/deployments", tag = "queries", params(ListQuery),
    responses((status = 200, description = "Deployments with their stages", body = Object,
        headers(("Link" = String, description = "The next page, when there is one: `</v1/deployments?...&after=...>; rel=\"next\"`"))),
        (status = 400, body = ApiError)))]
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(mut q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let after = match q.after.as_deref() {
        None => None,
        Some(text) => Some(ListCursor::parse(text).ok_or_else(|| {
            ApiError::invalid(
                "after",
                format!("'{text}' is not a cursor this service handed out"),
            )
        })?),
    };
    let filter = DeploymentFilter {
        application_set: q.application_set.clone(),
        application: q.application.clone(),
        track: q.track,
        status: q.status,
        limit: q.limit.unwrap_or(100),
        after,
    };
    let list = shared
        .driver
        .deployments(&filter)
        .await
        .map_err(ApiError::from_store)?;
    let next = match list.last() {
        Some(last) if list.len() == filter.page() => {
            q.after = Some(ListCursor::after(last).encode());
            serde_urlencoded::to_string(&q).ok()
        }
        _ => None,
    };
    let mut response = Json(list).into_response();
    if let Some(query) = next
        && let Ok(link) =
            header::HeaderValue::from_str(&format!("</v1/deployments?{query}>; rel=\"next\""))
    {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// One deployment with its stages, approvals and changelog.
#[utoipa::path(get, path = "/v1/deployments/{id}", tag = "queries",
    params(("id" = String, Path, description = "The deployment")),
    responses((status = 200, body = Object), (status = 404, body = ApiError)))]
pub(super) async fn show(
    State(shared): State<Arc<Shared>>,
    id: PathArg,
) -> Result<Response, ApiError> {
    let id = DeploymentId(path_value(id, "id")?);
    match shared.driver.deployment(&id).await {
        Ok(Some(view)) => Ok(Json(view).into_response()),
        Ok(None) => Err(ApiError::from_rejection(&Rejection::UnknownDeployment(id))),
        Err(e) => Err(ApiError::from_store(e)),
    }
}

/// Liveness and readiness: the store answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Object), (status = 503, body = ApiError)))]
pub(super) async fn healthz(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let filter = DeploymentFilter {
        limit: 1,
        ..DeploymentFilter::default()
    };
    shared
        .driver
        .deployments(&filter)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(serde_json::json!({ "status": "ok" })).into_response())
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
pub(super) async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
        .into_response()
}
