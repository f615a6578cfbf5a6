//! The reads: holds, deployments (listed and one by one), health and metrics.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cd_core::pipeline::{DeploymentId, Rejection};
use cd_ports::{DeploymentFilter, ListCursor};

use super::error::ApiError;
use super::request::{PathArg, path_value};
use super::wire::ListQuery;
use crate::health::{Check, Report, ReportStatus};
use crate::service::Shared;

/// The holds in force, by environment.
#[utoipa::path(get, path = "/v1/holds", tag = "queries",
    responses((status = 200, description = "Each held environment and its hold", body = BTreeMap<String, Object>)))]
pub(super) async fn holds(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let holds = shared.driver.holds().await.map_err(ApiError::from_store)?;
    Ok(Json(holds).into_response())
}

/// Lists deployments, newest first, a page at a time: when more follow, the `Link` header names
/// the next page (`rel="next"`, with the `after` cursor).
#[utoipa::path(get, path = "/v1/deployments", tag = "queries", params(ListQuery),
    responses((status = 200, description = "Deployments with their stages", body = Vec<Object>,
        headers(("Link" = String, description = "The next page, when there is one: `</v1/deployments?...&after=...>; rel=\"next\"`"))),
        (status = 400, body = ApiError), (status = 422, description = "The application set or application is not the tenant's", body = ApiError)))]
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
    let limit = match q.limit {
        None => 100,
        Some(n @ 1..=500) => usize::from(n),
        Some(n) => {
            return Err(ApiError::invalid(
                "limit",
                format!("{n} is not between 1 and 500"),
            ));
        }
    };
    let filter = DeploymentFilter {
        application_set: q.application_set.clone(),
        application: q.application.clone(),
        track: q.track.map(Into::into),
        status: q.status.map(Into::into),
        limit,
        after,
    };
    let list = shared
        .driver
        .deployments(&filter)
        .await
        .map_err(ApiError::from_store)?;
    // Nothing found for a name the tenant does not have is a mistake to report, not an empty
    // list (a removed application's history is still listed: it has deployments).
    if list.is_empty()
        && filter.after.is_none()
        && let Ok(catalog) = shared.driver.catalog_or_last_valid().await
    {
        if let Some(set) = q.application_set.as_deref()
            && !catalog.application_sets.contains_key(set)
        {
            return Err(ApiError::from_rejection(&Rejection::UnknownApplicationSet(
                set.to_string(),
            ))
            .on_field("applicationSet"));
        }
        if let Some(app) = q.application.as_deref()
            && !catalog.applications.contains_key(app)
        {
            return Err(
                ApiError::from_rejection(&Rejection::UnknownApplication(app.to_string()))
                    .on_field("application"),
            );
        }
    }
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
    responses((status = 200, description = "The deployment with its approvals and changelog", body = Object),
        (status = 400, body = ApiError), (status = 404, body = ApiError)))]
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

/// How long a readiness check may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

fn answer(report: Report) -> Response {
    let status = match report.status {
        ReportStatus::Ok => StatusCode::OK,
        ReportStatus::Failing => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(report)).into_response()
}

/// Liveness: the effect worker runs. 503 means the process should be restarted.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Report),
        (status = 503, description = "The worker has stopped: restart the process", body = Report)))]
pub(super) async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    answer(Report::of(vec![shared.health.worker()]))
}

/// One readiness check, bounded by [`PROBE_TIMEOUT`].
async fn probe<E: std::fmt::Display>(
    name: &str,
    detail: &str,
    check: impl Future<Output = Result<(), E>>,
) -> Check {
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(())) => Check::pass(name, detail.to_string()),
        Ok(Err(e)) => Check::fail(name, e.to_string()),
        Err(_) => Check::fail(
            name,
            format!("no answer within {} ms", PROBE_TIMEOUT.as_millis()),
        ),
    }
}

/// Readiness: the store takes a write, the manifest remote answers, background components
/// are connected, and the worker runs. 503 means requests should go elsewhere for now.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = Report),
        (status = 503, description = "A check failed: the report says which", body = Report)))]
pub(super) async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let (store, manifests) = tokio::join!(
        probe("store", "writable", shared.driver.store_ready()),
        probe(
            "manifests",
            "the remote answers",
            shared.driver.manifests_reachable()
        ),
    );
    let mut checks = vec![store, manifests];
    checks.extend(shared.health.components());
    checks.push(shared.health.worker());
    answer(Report::of(checks))
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
