//! The HTTP API. Every mutation authenticates first (401 before anything else is looked at),
//! then parses (400 naming the field), then decides; nothing is stored unless the decision is.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use cd_core::pipeline::{
    ApprovalAction, ApprovalRecorded, BuildNotified, Decision, DeploymentId, DeploymentStatus,
    DeploymentTrack, EngineStatus, Input, Rejection, ReleaseRequested, Scope, StatusReported,
};
use cd_ports::{DeploymentFilter, DriverError, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth;
use crate::service::Shared;

/// An API error: the status and a body naming what is wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    /// A stable code: `unauthorized`, `invalid_request`, `unknown`, `forbidden`, `refused`,
    /// `unavailable`.
    error: &'static str,
    /// What is wrong, for people.
    message: String,
    /// The field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            message: message.into(),
            field: None,
        }
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            message: if field.is_empty() {
                message
            } else {
                format!("{field}: {message}")
            },
            field: (!field.is_empty()).then_some(field),
        }
    }

    fn from_store(e: StoreError) -> Self {
        Self::from_driver(e.into())
    }

    fn from_driver(e: DriverError) -> Self {
        match e {
            DriverError::Rejected(r) => Self::from_rejection(&r),
            DriverError::Manifests(p) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the manifests at the repository head are invalid: {p}"),
            ),
            other => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                other.to_string(),
            ),
        }
    }

    fn from_rejection(r: &Rejection) -> Self {
        let message = r.to_string();
        match r {
            Rejection::InvalidInput { field, .. } => Self::invalid(*field, message),
            Rejection::UnknownDeployment(_) => Self::new(StatusCode::NOT_FOUND, "unknown", message),
            Rejection::NotAStakeholder { .. } | Rejection::AuthorMayNotApprove { .. } => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            r if r.is_unknown() => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown", message),
            _ => Self::new(StatusCode::CONFLICT, "refused", message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

/// What a mutation did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The deployments the request concerns (created, found by deduplication, or addressed).
    pub deployments: Vec<String>,
    /// True when the request changed nothing (a repeat).
    pub duplicate: bool,
}

fn accepted(decision: &Decision) -> Response {
    let body = Accepted {
        deployments: decision.deployments.iter().map(|d| d.0.clone()).collect(),
        duplicate: decision.is_noop(),
    };
    let status = if body.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    (status, Json(body)).into_response()
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8], prefix: &str) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // A missing field is reported at its parent: name the field itself.
        let named = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let parent = if path == "." { String::new() } else { path };
        let field = match named {
            Some(name) if parent.is_empty() => name.to_string(),
            Some(name) => format!("{parent}.{name}"),
            None => parent,
        };
        let field = if field.is_empty() {
            prefix.trim_end_matches('.').to_string()
        } else {
            format!("{prefix}{field}")
        };
        ApiError::invalid(field, message)
    })
}

/// A path segment, extracted without failing: a malformed one is reported only after the
/// caller is authenticated, so 401 always comes first.
type PathArg = Result<Path<String>, axum::extract::rejection::PathRejection>;

fn path_value(p: PathArg, name: &str) -> Result<String, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::invalid(name, e.body_text()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// A machine caller (the engine, CI): a valid HMAC of the body, or a valid OIDC token.
async fn machine(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    if let Some(sig) = headers.get(auth::SIGNATURE_HEADER) {
        let sig = sig.to_str().unwrap_or_default();
        return if auth::verify(&shared.secret, sig, body) {
            Ok(())
        } else {
            Err(ApiError::unauthorized(
                "the signature does not match the body",
            ))
        };
    }
    match (bearer(headers), &shared.oidc) {
        (Some(token), Some(oidc)) => oidc
            .machine(token)
            .await
            .map(|_| ())
            .map_err(ApiError::unauthorized),
        _ => Err(ApiError::unauthorized(format!(
            "sign the body ({}: sha256=<hex>){}",
            auth::SIGNATURE_HEADER,
            if shared.oidc.is_some() {
                " or send an OIDC bearer token"
            } else {
                ""
            }
        ))),
    }
}

/// The person acting: from their OIDC token, or from the trusted header in local mode. Only
/// people the tenant's manifests know (OrganizationUsers, external group members) act.
async fn actor(shared: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    let actor = identified(shared, headers).await?;
    // Who people are does not change with a broken manifest commit: holds (the emergency
    // brake) must still work then.
    let catalog = shared
        .driver
        .catalog_or_last_valid()
        .await
        .map_err(ApiError::from_driver)?;
    if catalog.knows(&actor) {
        Ok(actor)
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("'{actor}' is not an OrganizationUser of this tenant"),
        ))
    }
}

async fn identified(shared: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    if let (Some(token), Some(oidc)) = (bearer(headers), &shared.oidc) {
        return oidc.person(token).await.map_err(ApiError::unauthorized);
    }
    if shared.trust_actor_header
        && let Some(v) = headers.get(shared.actor_header.as_str())
    {
        let actor = v.to_str().unwrap_or_default().trim();
        if !actor.is_empty() {
            return Ok(actor.to_string());
        }
    }
    Err(ApiError::unauthorized(if shared.oidc.is_some() {
        "send an OIDC bearer token naming who acts".to_string()
    } else if shared.trust_actor_header {
        format!("name who acts in the {} header", shared.actor_header)
    } else {
        "no way to authenticate people is configured (auth.oidc or auth.trust_actor_header)"
            .to_string()
    }))
}

/// Bodies are JSON, declared as such: a browser cannot send that across origins without
/// asking first, so a page cannot post to a service on the user's machine.
/// A JSON request body: declared as JSON (or not declared), and of type `T`.
fn json<T: for<'de> Deserialize<'de>>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    json_body(headers)?;
    parse(body, "")
}

fn json_body(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = declared.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error: "invalid_request",
            message: format!("content-type must be application/json, not '{declared}'"),
            field: Some("content-type".into()),
        })
    }
}

async fn submit(shared: &Arc<Shared>, input: Input) -> Result<Response, ApiError> {
    decide(shared, input).await.map(|d| accepted(&d))
}

/// Decides `input` and queues its effects, in a task of its own: a client that hangs up after
/// the decision is stored must not keep its effects from being queued.
/// Checks who sends a build notification: CI's signature, unless the service accepts unsigned
/// notifications (loopback only).
async fn notifier(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    if shared.sign_notifications {
        machine(shared, headers, body).await?;
    }
    Ok(())
}

async fn decide(shared: &Arc<Shared>, input: Input) -> Result<Decision, ApiError> {
    let name = input.name();
    let task = {
        let shared = shared.clone();
        tokio::spawn(async move { shared.accept(&input).await })
    };
    let result = task.await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        )
    })?;
    match result {
        Ok(decision) => {
            for id in &decision.deployments {
                tracing::info!(deployment = %id, input = name, duplicate = decision.is_noop(), "accepted");
            }
            Ok(decision)
        }
        Err(e) => {
            tracing::warn!(input = name, error = %e, "refused");
            Err(ApiError::from_driver(e))
        }
    }
}

/// Receives a CI build notification (the seed's HandlePush).
#[utoipa::path(post, path = "/v1/notifications/build", tag = "notifications",
    request_body(content = Object, description = "A BuildNotified: buildDefinitionId, container, version, commitSha, repository, ref, digest, author, changelog"),
    responses((status = 202, body = Accepted), (status = 200, description = "A repeat", body = Accepted),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 422, description = "Unknown build", body = ApiError)))]
async fn notify_build(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    notifier(&shared, &headers, &body).await?;
    let n: BuildNotified = json(&headers, &body)?;
    submit(&shared, Input::BuildNotified(n)).await
}

/// A Pub/Sub push envelope.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushEnvelope {
    /// The message.
    pub message: PushMessage,
    /// The subscription.
    #[serde(default)]
    pub subscription: String,
}

/// A pushed message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushMessage {
    /// Base64 of a BuildNotified JSON document.
    pub data: String,
    /// Message attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Pub/Sub's id; redeliveries repeat it.
    #[serde(default, alias = "message_id")]
    pub message_id: String,
}

/// Receives a build notification pushed by a Pub/Sub push subscription. Redeliveries are
/// harmless: the notification is deduplicated like any repeat.
#[utoipa::path(post, path = "/v1/notifications/pubsub", tag = "notifications", request_body = PushEnvelope,
    responses((status = 202, body = Accepted), (status = 200, description = "A repeat", body = Accepted),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 422, body = ApiError)))]
async fn notify_pubsub(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    notifier(&shared, &headers, &body).await?;
    let envelope: PushEnvelope = json(&headers, &body)?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(envelope.message.data.trim())
        .map_err(|e| ApiError::invalid("message.data", format!("not base64: {e}")))?;
    let n: BuildNotified = parse(&data, "message.data.")?;
    tracing::debug!(message_id = %envelope.message.message_id, "pubsub push");
    submit(&shared, Input::BuildNotified(n)).await
}

/// The engine's report on one stage.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusBody {
    /// The deployment (the commit's `Infrastream-Deployment` trailer); must match the path.
    pub deployment: String,
    /// The stage (the commit's `Infrastream-Stage` trailer).
    pub stage_index: usize,
    /// `SUCCESS` or `FAILED`.
    #[schema(value_type = String)]
    pub status: EngineStatus,
    /// The commit reconciled.
    pub commit_sha: String,
    /// The engine run.
    #[serde(default)]
    pub run_id: String,
    /// What the engine said.
    #[serde(default)]
    pub message: String,
}

/// The engine's status webhook (the seed's HandleDeploymentStatus). Signed.
#[utoipa::path(post, path = "/v1/deployments/{id}/status", tag = "engine", request_body = StatusBody,
    params(("id" = String, Path, description = "The deployment")),
    responses((status = 202, body = Accepted), (status = 200, body = Accepted), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn status(
    State(shared): State<Arc<Shared>>,
    id: PathArg,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    machine(&shared, &headers, &body).await?;
    let id = path_value(id, "id")?;
    let b: StatusBody = json(&headers, &body)?;
    // The signature covers the body only: naming the deployment inside it stops a signed
    // report from being replayed against another deployment.
    if b.deployment != id {
        return Err(ApiError::invalid(
            "deployment",
            format!(
                "'{}' does not match the deployment in the path, '{id}'",
                b.deployment
            ),
        ));
    }
    let deployment = DeploymentId(id);
    let decision = decide(
        &shared,
        Input::StatusReported(StatusReported {
            deployment: deployment.clone(),
            stage_index: b.stage_index,
            status: b.status,
            run_id: b.run_id,
            commit_sha: b.commit_sha,
            message: b.message,
        }),
    )
    .await?;
    shared.observe_stage(&decision, &deployment, b.stage_index);
    Ok(accepted(&decision))
}

/// An approver's action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalBody {
    /// The gated stage.
    pub stage_index: usize,
    /// `APPROVE` or `REJECT`.
    #[schema(value_type = String)]
    pub action: ApprovalAction,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// Approves or rejects a gated stage. The actor is the authenticated caller.
#[utoipa::path(post, path = "/v1/deployments/{id}/approvals", tag = "operators", request_body = ApprovalBody,
    params(("id" = String, Path, description = "The deployment")),
    responses((status = 202, body = Accepted), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, description = "Not a stakeholder, or the change's author", body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError),
        (status = 422, description = "No such stage", body = ApiError)))]
async fn approve(
    State(shared): State<Arc<Shared>>,
    id: PathArg,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let actor = actor(&shared, &headers).await?;
    let id = path_value(id, "id")?;
    let b: ApprovalBody = json(&headers, &body)?;
    submit(
        &shared,
        Input::ApprovalRecorded(ApprovalRecorded {
            deployment: DeploymentId(id),
            stage_index: b.stage_index,
            actor,
            action: b.action,
            comment: b.comment,
        }),
    )
    .await
}

/// A release request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseBody {
    /// The application set.
    pub application_set: String,
    /// The bundle name, e.g. `2026.11`.
    pub bundle: String,
    /// Versions per application; others take their latest fully succeeded PreRelease.
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
}

/// Releases a bundle of an application set.
#[utoipa::path(post, path = "/v1/releases", tag = "operators", request_body = ReleaseBody,
    responses((status = 202, body = Accepted), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 409, description = "Not ready", body = ApiError), (status = 422, body = ApiError)))]
async fn release(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let actor = actor(&shared, &headers).await?;
    let b: ReleaseBody = json(&headers, &body)?;
    submit(
        &shared,
        Input::ReleaseRequested(ReleaseRequested {
            application_set: b.application_set,
            bundle: b.bundle,
            versions: b.versions,
            actor,
        }),
    )
    .await
}

/// Retries a deployment waiting on a failed side effect, or a failed release.
#[utoipa::path(post, path = "/v1/deployments/{id}/retry", tag = "operators",
    params(("id" = String, Path, description = "The deployment")),
    responses((status = 202, body = Accepted), (status = 401, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn retry(
    State(shared): State<Arc<Shared>>,
    id: PathArg,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let actor = actor(&shared, &headers).await?;
    let id = path_value(id, "id")?;
    submit(
        &shared,
        Input::RetryRequested {
            deployment: DeploymentId(id),
            actor,
        },
    )
    .await
}

/// A rollback request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackBody {
    /// The application.
    pub application: String,
    /// The environment.
    pub environment: String,
    /// An existing image tag.
    pub version: String,
}

/// Redeploys an earlier version of an application into one environment.
#[utoipa::path(post, path = "/v1/rollbacks", tag = "operators", request_body = RollbackBody,
    responses((status = 202, body = Accepted), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 422, body = ApiError)))]
async fn rollback(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let actor = actor(&shared, &headers).await?;
    let b: RollbackBody = json(&headers, &body)?;
    submit(
        &shared,
        Input::RollbackRequested {
            application: b.application,
            environment: b.environment,
            version: b.version,
            actor,
        },
    )
    .await
}

/// A hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// Holds an environment: promotions into it wait as HELD.
#[utoipa::path(put, path = "/v1/holds/{environment}", tag = "operators", request_body = HoldBody,
    params(("environment" = String, Path, description = "The environment")),
    responses((status = 202, body = Accepted), (status = 200, body = Accepted),
        (status = 400, description = "No such environment", body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError)))]
async fn hold(
    State(shared): State<Arc<Shared>>,
    environment: PathArg,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let actor = actor(&shared, &headers).await?;
    let environment = path_value(environment, "environment")?;
    let b: HoldBody = if body.is_empty() {
        HoldBody {
            reason: String::new(),
        }
    } else {
        json(&headers, &body)?
    };
    submit(
        &shared,
        Input::HoldPlaced {
            environment,
            reason: b.reason,
            actor,
        },
    )
    .await
}

/// Lifts a hold; held promotions resume.
#[utoipa::path(delete, path = "/v1/holds/{environment}", tag = "operators",
    params(("environment" = String, Path, description = "The environment")),
    responses((status = 202, body = Accepted), (status = 200, description = "Nothing was held", body = Accepted),
        (status = 401, body = ApiError), (status = 403, body = ApiError)))]
async fn unhold(
    State(shared): State<Arc<Shared>>,
    environment: PathArg,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let actor = actor(&shared, &headers).await?;
    let environment = path_value(environment, "environment")?;
    submit(&shared, Input::HoldLifted { environment, actor }).await
}

/// The holds in force, by environment.
#[utoipa::path(get, path = "/v1/holds", tag = "queries", responses((status = 200, body = Object)))]
async fn holds(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let state = shared
        .driver
        .ports()
        .store
        .load(&Scope::All)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(state.holds).into_response())
}

/// Filters of the deployment list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this application set.
    application_set: Option<String>,
    /// Only this application (or bundles containing it).
    application: Option<String>,
    /// PRE_RELEASE, RELEASE, HOTFIX or ROLLBACK.
    #[param(value_type = Option<String>)]
    track: Option<DeploymentTrack>,
    /// PENDING, IN_PROGRESS, AWAITING_APPROVAL, SUCCEEDED, FAILED, REJECTED or SUPERSEDED.
    #[param(value_type = Option<String>)]
    status: Option<DeploymentStatus>,
    /// At most this many, newest first (default 100).
    limit: Option<usize>,
}

/// Lists deployments, newest first.
#[utoipa::path(get, path = "/v1/deployments", tag = "queries", params(ListQuery),
    responses((status = 200, description = "Deployments with their stages", body = Object), (status = 400, body = ApiError)))]
async fn list(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let filter = DeploymentFilter {
        application_set: q.application_set,
        application: q.application,
        track: q.track,
        status: q.status,
        limit: q.limit.unwrap_or(100),
    };
    let list = shared
        .driver
        .ports()
        .store
        .list(&filter)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(list).into_response())
}

/// One deployment with its stages, approvals and changelog.
#[utoipa::path(get, path = "/v1/deployments/{id}", tag = "queries",
    params(("id" = String, Path, description = "The deployment")),
    responses((status = 200, body = Object), (status = 404, body = ApiError)))]
async fn show(State(shared): State<Arc<Shared>>, id: PathArg) -> Result<Response, ApiError> {
    let id = DeploymentId(path_value(id, "id")?);
    match shared.driver.ports().store.deployment(&id).await {
        Ok(Some(view)) => Ok(Json(view).into_response()),
        Ok(None) => Err(ApiError::from_rejection(&Rejection::UnknownDeployment(id))),
        Err(e) => Err(ApiError::from_store(e)),
    }
}

/// Liveness and readiness: the store answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Object), (status = 503, body = ApiError)))]
async fn healthz(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let filter = DeploymentFilter {
        limit: 1,
        ..DeploymentFilter::default()
    };
    shared
        .driver
        .ports()
        .store
        .list(&filter)
        .await
        .map_err(ApiError::from_store)?;
    Ok(Json(serde_json::json!({ "status": "ok" })).into_response())
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(info(title = "Infrastream CD", description = "The CD Manager's HTTP API"))]
struct ApiDoc;

/// The router, and the OpenAPI document generated from the same routes.
pub fn router(shared: Arc<Shared>) -> axum::Router {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(notify_build))
        .routes(routes!(notify_pubsub))
        .routes(routes!(status))
        .routes(routes!(approve))
        .routes(routes!(release))
        .routes(routes!(retry))
        .routes(routes!(rollback))
        .routes(routes!(hold, unhold))
        .routes(routes!(holds))
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .with_state(shared)
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let doc = Arc::new(doc);
    router.route(
        "/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}
