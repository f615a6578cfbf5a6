//! The mutations: build notifications, engine reports, approvals, releases, retries,
//! rollbacks and holds. Each authenticates, parses, then decides through the Driver.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use cd_core::pipeline::{
    ApprovalRecorded, Decision, DeploymentId, Input, ReleaseRequested, StatusReported,
};

use super::error::{ApiError, ErrorCode};
use super::identity::{actor, machine, notifier};
use super::request::{PathArg, json, json_read, parse, path_value};
use super::wire::{
    Accepted, ApprovalBody, BuildNotification, CancelBody, HoldBody, PushEnvelope, ReleaseBody,
    RollbackBody, StatusBody,
};
use crate::service::Shared;

pub(super) fn accepted(decision: &Decision) -> Response {
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

pub(super) async fn submit(shared: &Arc<Shared>, input: Input) -> Result<Response, ApiError> {
    decide(shared, input).await.map(|d| accepted(&d))
}

/// Decides `input` and queues its effects, in a task of its own: a client that hangs up after
/// the decision is stored must not keep its effects from being queued.
pub(crate) async fn decide(shared: &Arc<Shared>, input: Input) -> Result<Decision, ApiError> {
    let name = input.name();
    let task = {
        let shared = shared.clone();
        tokio::spawn(async move { shared.accept(&input).await })
    };
    let result = task.await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
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
    request_body = BuildNotification,
    responses((status = 202, body = Accepted), (status = 200, description = "A repeat", body = Accepted),
        (status = 400, body = ApiError),
        (status = 422, description = "Unknown build, or its image tag is not in a registry of the application's image", body = ApiError),
        (status = 503, description = "The registry did not answer: nothing stored, send it again", body = ApiError)))]
pub(super) async fn notify_build(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = notifier(&shared, &headers, body).await?;
    let n: BuildNotification = json_read(&headers, &body)?;
    submit(&shared, Input::BuildNotified(n.into())).await
}

/// Receives a build notification pushed by a Pub/Sub push subscription. Redeliveries are
/// harmless: the notification is deduplicated like any repeat.
#[utoipa::path(post, path = "/v1/notifications/pubsub", tag = "notifications", request_body = PushEnvelope,
    responses((status = 202, body = Accepted), (status = 200, description = "A repeat", body = Accepted),
        (status = 400, body = ApiError),
        (status = 422, description = "Unknown build, or its image tag is not in a registry of the application's image", body = ApiError),
        (status = 503, description = "The registry did not answer: nothing stored, send it again", body = ApiError)))]
pub(super) async fn notify_pubsub(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = notifier(&shared, &headers, body).await?;
    let envelope: PushEnvelope = json_read(&headers, &body)?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(envelope.message.data.trim())
        .map_err(|e| ApiError::invalid("message.data", format!("not base64: {e}")))?;
    let n: BuildNotification = parse(&data, "message.data.")?;
    tracing::debug!(message_id = %envelope.message.message_id, "pubsub push");
    submit(&shared, Input::BuildNotified(n.into())).await
}

/// The engine's status webhook (the seed's HandleDeploymentStatus). Signed.
#[utoipa::path(post, path = "/v1/deployments/{id}/status", tag = "engine", request_body = StatusBody,
    params(("id" = String, Path, description = "The deployment")),
    responses((status = 202, body = Accepted), (status = 200, description = "A repeat", body = Accepted), (status = 400, body = ApiError),
        (status = 404, description = "No such deployment", body = ApiError), (status = 409, body = ApiError),
        (status = 422, description = "No such stage, or the body names another deployment than the path", body = ApiError)))]
pub(super) async fn status(
    State(shared): State<Arc<Shared>>,
    id: PathArg,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = machine(&shared, &headers, body).await?;
    let id = path_value(id, "id")?;
    let b: StatusBody = json_read(&headers, &body)?;
    // The signature covers the body only: naming the deployment inside it stops a signed
    // report from being replayed against another deployment.
    if b.deployment != id {
        // Well formed, and signed, but about another deployment than the one addressed.
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidRequest,
            format!(
                "deployment: '{}' does not match the deployment in the path, '{id}'",
                b.deployment
            ),
        )
        .on_field("deployment"));
    }
    let deployment = DeploymentId(id);
    let decision = decide(
        &shared,
        Input::StatusReported(StatusReported {
            deployment: deployment.clone(),
            stage_index: b.stage_index,
            status: b.status.into(),
            run_id: b.run_id,
            commit_sha: b.commit_sha,
            message: b.message,
        }),
    )
    .await?;
    shared.observe_stage(&decision, &deployment, b.stage_index);
    Ok(accepted(&decision))
}

/// Approves or rejects a gated stage. The actor is the authenticated caller.
#[utoipa::path(post, path = "/v1/deployments/{id}/approvals", tag = "operators", request_body = ApprovalBody,
    params(("id" = String, Path, description = "The deployment")),
    responses((status = 202, body = Accepted), (status = 200, description = "A repeat", body = Accepted), (status = 400, body = ApiError),
        (status = 403, description = "Not a stakeholder, or the change's author; or not a person the tenant knows", body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError),
        (status = 422, description = "No such stage", body = ApiError)))]
pub(super) async fn approve(
    State(shared): State<Arc<Shared>>,
    id: PathArg,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let actor = actor(&shared, &headers).await?;
    let id = path_value(id, "id")?;
    let b: ApprovalBody = json(&shared, &headers, body).await?;
    submit(
        &shared,
        Input::ApprovalRecorded(ApprovalRecorded {
            deployment: DeploymentId(id),
            stage_index: b.stage_index,
            actor,
            action: b.action.into(),
            comment: b.comment,
        }),
    )
    .await
}

/// Releases a bundle of an application set.
#[utoipa::path(post, path = "/v1/releases", tag = "operators", request_body = ReleaseBody,
    responses((status = 202, body = Accepted), (status = 200, description = "A repeat", body = Accepted), (status = 400, body = ApiError),
        (status = 409, description = "Not ready: each application named with what it lacks (a version through pre-release, a git tag in its source repository, an image tag in a registry)", body = ApiError),
        (status = 422, description = "No such application set or application", body = ApiError),
        (status = 503, description = "A registry or source host did not answer: nothing stored", body = ApiError)))]
pub(super) async fn release(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let actor = actor(&shared, &headers).await?;
    let b: ReleaseBody = json(&shared, &headers, body).await?;
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
    responses((status = 202, body = Accepted), (status = 200, description = "A repeat", body = Accepted), (status = 400, body = ApiError),
        (status = 404, description = "No such deployment", body = ApiError), (status = 409, description = "Not retryable", body = ApiError),
        (status = 422, description = "A failed release's new attempt names a git tag or an image tag that does not exist", body = ApiError),
        (status = 503, description = "A registry or source host did not answer: nothing stored", body = ApiError)))]
pub(super) async fn retry(
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

/// Cancels a deployment that waits (not started, at a gate, held, rejected), is parked on a
/// failed effect, or failed: it ends CANCELLED, frees the environments it claimed, keeps every
/// tag and ledger row, and the ledger records who cancelled it, when and why.
#[utoipa::path(post, path = "/v1/deployments/{id}/cancel", tag = "operators", request_body = CancelBody,
    params(("id" = String, Path, description = "The deployment")),
    responses((status = 202, body = Accepted), (status = 200, description = "A repeat", body = Accepted), (status = 400, body = ApiError),
        (status = 404, description = "No such deployment", body = ApiError),
        (status = 409, description = "Not cancellable: it has ended, or a promotion or a release step is in flight", body = ApiError)))]
pub(super) async fn cancel(
    State(shared): State<Arc<Shared>>,
    id: PathArg,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let actor = actor(&shared, &headers).await?;
    let id = path_value(id, "id")?;
    let b: CancelBody = json(&shared, &headers, body).await?;
    submit(
        &shared,
        Input::CancelRequested {
            deployment: DeploymentId(id),
            actor,
            comment: b.comment,
        },
    )
    .await
}

/// Redeploys an earlier version of an application into one environment.
#[utoipa::path(post, path = "/v1/rollbacks", tag = "operators", request_body = RollbackBody,
    responses((status = 202, body = Accepted), (status = 200, description = "A repeat", body = Accepted), (status = 400, body = ApiError),
        (status = 422, description = "No such application, no DeploymentConfig in that environment, or the version's image tag is not in a registry of the application", body = ApiError),
        (status = 503, description = "The registry did not answer: nothing stored", body = ApiError)))]
pub(super) async fn rollback(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let actor = actor(&shared, &headers).await?;
    let b: RollbackBody = json(&shared, &headers, body).await?;
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

/// Holds an environment: promotions into it wait as HELD.
#[utoipa::path(put, path = "/v1/holds/{environment}", tag = "operators", request_body = HoldBody,
    params(("environment" = String, Path, description = "The environment")),
    responses((status = 202, body = Accepted), (status = 200, description = "Already held", body = Accepted),
        (status = 400, body = ApiError), (status = 422, description = "No such environment", body = ApiError)))]
pub(super) async fn hold(
    State(shared): State<Arc<Shared>>,
    environment: PathArg,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let actor = actor(&shared, &headers).await?;
    let environment = path_value(environment, "environment")?;
    let b: HoldBody = json(&shared, &headers, body).await?;
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
        (status = 400, body = ApiError)))]
pub(super) async fn unhold(
    State(shared): State<Arc<Shared>>,
    environment: PathArg,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let actor = actor(&shared, &headers).await?;
    let environment = path_value(environment, "environment")?;
    submit(&shared, Input::HoldLifted { environment, actor }).await
}
