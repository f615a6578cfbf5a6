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
    ApprovalRecorded, Decision, DeploymentId, Input, Rejection, ReleaseRequested, StatusReported,
};
use cd_ports::DriverError;

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
        dropped: None,
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
    decide_in_task(shared, input)
        .await?
        .map_err(ApiError::from_driver)
}

/// [`decide`], keeping the driver's own error.
async fn decide_in_task(
    shared: &Arc<Shared>,
    input: Input,
) -> Result<Result<Decision, DriverError>, ApiError> {
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
    match &result {
        Ok(decision) => {
            for id in &decision.deployments {
                tracing::info!(deployment = %id, input = name, duplicate = decision.is_noop(), "accepted");
            }
        }
        Err(e) => tracing::warn!(input = name, error = %e, "refused"),
    }
    Ok(result)
}

/// Whether Pub/Sub should deliver a build notification again after `e`: an unknown build (the
/// manifests naming it may not have reached this replica yet), an image tag not yet in every
/// registry, or a store or registry that did not answer may pass later; any other refusal never
/// will. (A dead-letter policy on the subscription bounds the redeliveries.) The pull
/// subscriber and the push endpoint answer by the same rule.
#[must_use]
pub fn redeliver_notification(e: &DriverError) -> bool {
    !matches!(
        e,
        DriverError::Rejected(r)
            if !matches!(r, Rejection::UnknownBuild { .. } | Rejection::Unresolvable { .. })
    )
}

/// A Pub/Sub push refused for good: acknowledged (200), saying why, so that Pub/Sub neither
/// delivers it again nor slows the deliveries behind it.
fn dropped(shared: &Shared, message_id: &str, why: String) -> Response {
    tracing::warn!(message_id, reason = %why, "Pub/Sub push refused for good; acknowledged");
    shared.metrics.input("pubsub-push", "dropped");
    let body = Accepted {
        deployments: Vec::new(),
        duplicate: false,
        dropped: Some(why),
    };
    (StatusCode::OK, Json(body)).into_response()
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
/// harmless: the notification is deduplicated like any repeat. A message that can never be
/// taken (its data is not a notification, or the notification is refused for good) is
/// acknowledged with `dropped` saying why, as the pull subscriber acknowledges it: a non-2xx
/// answer would have Pub/Sub deliver it again for days and slow the deliveries behind it.
#[utoipa::path(post, path = "/v1/notifications/pubsub", tag = "notifications", request_body = PushEnvelope,
    responses((status = 202, body = Accepted),
        (status = 200, description = "A repeat; or, with `dropped`, a notification refused for good and acknowledged so that Pub/Sub does not deliver it again", body = Accepted),
        (status = 400, description = "Not a push envelope", body = ApiError),
        (status = 422, description = "Unknown build, or its image tag is not in a registry of the application's image: Pub/Sub delivers it again", body = ApiError),
        (status = 503, description = "The registry did not answer: nothing stored, send it again", body = ApiError)))]
pub(super) async fn notify_pubsub(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = notifier(&shared, &headers, body).await?;
    let envelope: PushEnvelope = json_read(&headers, &body)?;
    let message_id = envelope.message.message_id;
    let data = match base64::engine::general_purpose::STANDARD.decode(envelope.message.data.trim())
    {
        Ok(data) => data,
        Err(e) => {
            return Ok(dropped(
                &shared,
                &message_id,
                format!("message.data: not base64: {e}"),
            ));
        }
    };
    let n: BuildNotification = match parse(&data, "message.data.") {
        Ok(n) => n,
        Err(e) => {
            let why = match e.field() {
                Some(field) if !e.message().contains(field) => {
                    format!("{field}: {}", e.message())
                }
                _ => e.message().to_string(),
            };
            return Ok(dropped(&shared, &message_id, why));
        }
    };
    tracing::debug!(message_id, "pubsub push");
    match decide_in_task(&shared, Input::BuildNotified(n.into())).await? {
        Ok(decision) => Ok(accepted(&decision)),
        Err(e) if redeliver_notification(&e) => Err(ApiError::from_driver(e)),
        Err(e) => Ok(dropped(&shared, &message_id, e.to_string())),
    }
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

#[cfg(test)]
mod tests {
    use cd_core::pipeline::Rejection;
    use cd_ports::{DriverError, StoreError};

    use super::redeliver_notification;

    #[test]
    fn only_what_may_pass_later_is_delivered_again() {
        let unknown = Rejection::UnknownBuild {
            build_definition: "x".into(),
            container: "x".into(),
        };
        let missing = Rejection::Unresolvable {
            missing: Vec::new(),
        };
        let bad = Rejection::InvalidInput {
            field: "version",
            reason: "latest".into(),
        };
        assert!(redeliver_notification(&DriverError::Rejected(unknown)));
        assert!(redeliver_notification(&DriverError::Rejected(missing)));
        assert!(redeliver_notification(&DriverError::Store(
            StoreError::Unavailable("down".into())
        )));
        assert!(!redeliver_notification(&DriverError::Rejected(bad)));
        assert!(!redeliver_notification(&DriverError::Rejected(
            Rejection::UnknownApplication("x".into())
        )));
    }
}
