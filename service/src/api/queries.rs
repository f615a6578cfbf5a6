//! The reads: holds, gates waiting on people, deployments (listed and one by one), health and
//! metrics. Every read of the pipeline takes a person the tenant knows (or an allowed machine).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

use cd_core::pipeline::{DeploymentId, Rejection, awaits, gate_needs};
use cd_ports::{DeploymentFilter, ListCursor};

use super::error::ApiError;
use super::identity::reader;
use super::request::{PathArg, path_value};
use super::views::{DeploymentDetail, DeploymentSummary, HoldView, PendingApproval};
use super::wire::{ApprovalsQuery, ListQuery};
use crate::health::{Check, Report, ReportStatus};
use crate::service::Shared;

/// The holds in force, by environment.
#[utoipa::path(get, path = "/v1/holds", tag = "queries",
    responses((status = 200, description = "Each held environment and its hold", body = BTreeMap<String, HoldView>)))]
pub(super) async fn holds(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    reader(&shared, &headers).await?;
    let holds = shared.driver.holds().await.map_err(ApiError::from_store)?;
    let view: BTreeMap<String, HoldView> =
        holds.iter().map(|(e, h)| (e.clone(), h.into())).collect();
    Ok(Json(view).into_response())
}

/// The gates waiting on a person (through their groups), newest first, each with what it
/// still needs. Only gates they may act on and have not approved yet are listed: a gate where
/// they are the change's author, or of groups they are not in, is not theirs to answer.
#[utoipa::path(get, path = "/v1/approvals", tag = "queries", params(ApprovalsQuery),
    responses((status = 200, description = "What waits on the person", body = Vec<PendingApproval>),
        (status = 400, body = ApiError)))]
pub(super) async fn approvals(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<ApprovalsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let caller = reader(&shared, &headers).await?;
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let person = match q.pending_for.as_deref().map(str::trim) {
        None | Some("" | "me" | "ME") => caller,
        Some(other) => other.to_string(),
    };
    let catalog = shared
        .driver
        .catalog_or_last_valid()
        .await
        .map_err(ApiError::from_driver)?;
    let waiting = shared
        .driver
        .waiting_on_people()
        .await
        .map_err(ApiError::from_store)?;
    let settings = shared.driver.settings();
    let pending: Vec<PendingApproval> = waiting
        .iter()
        .filter_map(|v| {
            let gate = awaits(&catalog, settings, &v.deployment, &v.approvals, &person)?;
            Some(PendingApproval {
                deployment: (&v.deployment).into(),
                gate: gate.into(),
            })
        })
        .collect();
    Ok(Json(pending).into_response())
}

/// Lists deployments, newest first, a page at a time: when more follow, the `Link` header names
/// the next page (`rel="next"`, with the `after` cursor).
#[utoipa::path(get, path = "/v1/deployments", tag = "queries", params(ListQuery),
    responses((status = 200, description = "Deployments with their stages", body = Vec<DeploymentSummary>,
        headers(("Link" = String, description = "The next page, when there is one: `</v1/deployments?...&after=...>; rel=\"next\"`"))),
        (status = 400, body = ApiError), (status = 422, description = "The application set or application is not the tenant's", body = ApiError)))]
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    reader(&shared, &headers).await?;
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
    let view: Vec<DeploymentSummary> = list.iter().map(Into::into).collect();
    let mut response = Json(view).into_response();
    if let Some(query) = next
        && let Ok(link) =
            header::HeaderValue::from_str(&format!("</v1/deployments?{query}>; rel=\"next\""))
    {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// One deployment with its stages, its approval ledger, its changelog, and what its gate still
/// needs (with whether the caller may approve).
#[utoipa::path(get, path = "/v1/deployments/{id}", tag = "queries",
    params(("id" = String, Path, description = "The deployment")),
    responses((status = 200, description = "The deployment with its approvals and changelog", body = DeploymentDetail),
        (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub(super) async fn show(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: PathArg,
) -> Result<Response, ApiError> {
    let caller = reader(&shared, &headers).await?;
    let id = DeploymentId(path_value(id, "id")?);
    let view = match shared.driver.deployment(&id).await {
        Ok(Some(view)) => view,
        Ok(None) => return Err(ApiError::from_rejection(&Rejection::UnknownDeployment(id))),
        Err(e) => return Err(ApiError::from_store(e)),
    };
    // What the gate needs is read against the manifests that decide it; without them (a broken
    // head and no valid one since start), the deployment is still shown.
    let gate = match shared.driver.catalog_or_last_valid().await {
        Ok(catalog) => gate_needs(
            &catalog,
            shared.driver.settings(),
            &view.deployment,
            &view.approvals,
            Some(&caller),
        ),
        Err(_) => None,
    };
    Ok(Json(DeploymentDetail {
        deployment: (&view.deployment).into(),
        approvals: view.approvals.iter().map(Into::into).collect(),
        changelog: view.changelog.iter().map(Into::into).collect(),
        gate: gate.map(Into::into),
    })
    .into_response())
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

/// Prometheus metrics: the service's counters, and each application set's DORA figures over
/// 7, 30 and 90 days (read from the store at most every 30 seconds).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
pub(super) async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let mut text = shared.metrics.render();
    let now = shared.driver.now();
    match shared.driver.catalog_or_last_valid().await {
        Ok(catalog) => match shared
            .dora_cache
            .figures(&shared.driver, &catalog, now)
            .await
        {
            Ok(figures) => text.push_str(&crate::metrics::render_dora(&figures)),
            Err(e) => tracing::warn!(error = %e, "DORA figures left out of /metrics"),
        },
        Err(e) => tracing::warn!(error = %e, "DORA figures left out of /metrics"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
