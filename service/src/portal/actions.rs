//! The forms: each reads its fields, checks the session and its CSRF token before anything
//! else, then decides through the API's own path (`api::commands::decide`), and answers with a
//! redirect to the page that shows the result (303, so a reload does not post again).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cd_core::pipeline::{ApprovalAction, ApprovalRecorded, DeploymentId, Input, ReleaseRequested};
use serde::Deserialize;

use super::pages::{safe_back, to_deployment};
use super::session::{clear_cookie, set_cookie};
use super::{Refusal, Viewer, known, session_of};
use crate::api::commands::decide;
use crate::api::wire::bounded_text;
use crate::service::Shared;

/// A state-changing form: the session is checked first (an anonymous client's body is never
/// read), then the form's CSRF token against that session, and only then its other fields as
/// `T`.
async fn submitted<T: for<'de> Deserialize<'de>>(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Viewer, T), Refusal> {
    let Some(session) = session_of(shared, headers) else {
        return Err(Refusal::page(
            StatusCode::FORBIDDEN,
            "sign in first: this form needs a session",
        ));
    };
    let bytes: Bytes = cd_http::read_body(body, &shared.limits)
        .await
        .map_err(|e| Refusal::page(StatusCode::BAD_REQUEST, e.to_string()))?;
    let token: Csrf = serde_urlencoded::from_bytes(&bytes).unwrap_or(Csrf { csrf: None });
    if !token
        .csrf
        .is_some_and(|t| shared.sessions.csrf_holds(&session, &t))
    {
        return Err(Refusal::page(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or not this session's: reload the page and try again",
        ));
    }
    let viewer = known(shared, session).await?;
    let fields = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
        Refusal::page(
            StatusCode::BAD_REQUEST,
            format!("the form is not what this page sends: {e}"),
        )
    })?;
    Ok((viewer, fields))
}

/// To the page of the deployment a decision created (or concerned), else the overview.
fn to_created(decision: &cd_core::pipeline::Decision) -> Response {
    match decision.deployments.first() {
        Some(id) => to_deployment(&id.0),
        None => Redirect::to("/").into_response(),
    }
}

/// The token every state-changing form carries.
#[derive(Debug, Deserialize)]
struct Csrf {
    #[serde(default)]
    csrf: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VerdictForm {
    stage: usize,
    action: String,
    #[serde(default, deserialize_with = "bounded_text")]
    comment: String,
}

/// Approve or reject a gate.
pub(crate) async fn verdict(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, Refusal> {
    let (v, f): (Viewer, VerdictForm) = submitted(&shared, &headers, body).await?;
    let action = match f.action.as_str() {
        "APPROVE" => ApprovalAction::Approve,
        "REJECT" => ApprovalAction::Reject,
        other => {
            return Err(Refusal::page(
                StatusCode::BAD_REQUEST,
                format!("action must be APPROVE or REJECT, not '{other}'"),
            ));
        }
    };
    decide(
        &shared,
        Input::ApprovalRecorded(ApprovalRecorded {
            deployment: DeploymentId(id.clone()),
            stage_index: f.stage,
            actor: v.person().to_string(),
            action,
            comment: f.comment,
        }),
    )
    .await?;
    Ok(to_deployment(&id))
}

/// Retry a deployment waiting on a failed step, or a failed release (as a new attempt).
pub(crate) async fn retry(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, Refusal> {
    let (v, _): (Viewer, Csrf) = submitted(&shared, &headers, body).await?;
    let decision = decide(
        &shared,
        Input::RetryRequested {
            deployment: DeploymentId(id.clone()),
            actor: v.person().to_string(),
        },
    )
    .await?;
    // A parked deployment resumes itself; a failed release is retried as a new attempt (or
    // answered with the newest one), whose page is where the person wants to be next.
    let next = decision
        .deployments
        .first()
        .map_or(id.as_str(), |d| d.0.as_str());
    Ok(to_deployment(next))
}

#[derive(Debug, Deserialize)]
struct CommentForm {
    #[serde(default, deserialize_with = "bounded_text")]
    comment: String,
}

/// Cancel a deployment that waits, is parked, or failed.
pub(crate) async fn cancel(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, Refusal> {
    let (v, f): (Viewer, CommentForm) = submitted(&shared, &headers, body).await?;
    decide(
        &shared,
        Input::CancelRequested {
            deployment: DeploymentId(id.clone()),
            actor: v.person().to_string(),
            comment: f.comment,
        },
    )
    .await?;
    Ok(to_deployment(&id))
}

#[derive(Debug, Deserialize)]
struct RollbackForm {
    application: String,
    environment: String,
    version: String,
}

/// Redeploy an earlier version of an application into one environment.
pub(crate) async fn rollback(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let (v, f): (Viewer, RollbackForm) = submitted(&shared, &headers, body).await?;
    let decision = decide(
        &shared,
        Input::RollbackRequested {
            application: f.application,
            environment: f.environment,
            version: f.version,
            actor: v.person().to_string(),
        },
    )
    .await?;
    Ok(to_created(&decision))
}

#[derive(Debug, Deserialize)]
struct HoldForm {
    environment: String,
    #[serde(default, deserialize_with = "bounded_text")]
    reason: String,
}

/// Hold an environment.
pub(crate) async fn hold(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let (v, f): (Viewer, HoldForm) = submitted(&shared, &headers, body).await?;
    decide(
        &shared,
        Input::HoldPlaced {
            environment: f.environment,
            reason: f.reason,
            actor: v.person().to_string(),
        },
    )
    .await?;
    Ok(Redirect::to("/holds").into_response())
}

/// Lift a hold.
pub(crate) async fn unhold(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(environment): Path<String>,
    body: Body,
) -> Result<Response, Refusal> {
    let (v, _): (Viewer, Csrf) = submitted(&shared, &headers, body).await?;
    decide(
        &shared,
        Input::HoldLifted {
            environment,
            actor: v.person().to_string(),
        },
    )
    .await?;
    Ok(Redirect::to("/holds").into_response())
}

/// Start a release with the versions its preview showed (`version.<app>` fields).
pub(crate) async fn release(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let (v, fields): (Viewer, Vec<(String, String)>) = submitted(&shared, &headers, body).await?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    let versions = fields
        .iter()
        .filter_map(|(k, value)| {
            k.strip_prefix("version.")
                .map(|app| (app.to_string(), value.clone()))
        })
        .collect();
    let decision = decide(
        &shared,
        Input::ReleaseRequested(ReleaseRequested {
            application_set: field("set"),
            bundle: field("bundle"),
            versions,
            actor: v.person().to_string(),
        }),
    )
    .await?;
    Ok(to_created(&decision))
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    person: String,
    #[serde(default)]
    back: Option<String>,
}

/// Local mode: sign in by name. Only a person the tenant knows gets a session.
pub(crate) async fn sign_in(
    State(shared): State<Arc<Shared>>,
    body: Body,
) -> Result<Response, Refusal> {
    if !shared.trust_actor_header {
        return Err(Refusal::page(
            StatusCode::NOT_IMPLEMENTED,
            "signing in by name is for local mode only",
        ));
    }
    let bytes: Bytes = cd_http::read_body(body, &shared.limits)
        .await
        .map_err(|e| Refusal::page(StatusCode::BAD_REQUEST, e.to_string()))?;
    let f: SignInForm = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
        Refusal::page(
            StatusCode::BAD_REQUEST,
            format!("the form is not what this page sends: {e}"),
        )
    })?;
    start_session(&shared, f.person.trim(), &safe_back(f.back.as_deref())).await
}

/// Starts a session for `person` (when the tenant knows them) and returns to `back`.
pub(crate) async fn start_session(
    shared: &Shared,
    person: &str,
    back: &str,
) -> Result<Response, Refusal> {
    let catalog = shared
        .driver
        .catalog_or_last_valid()
        .await
        .map_err(crate::api::ApiError::from_driver)?;
    if !catalog.knows(person) {
        // A code, not the message: the sign-in page shows only words of its own, never text a
        // link could carry.
        tracing::info!(person, "sign-in refused: not someone the tenant knows");
        let query = serde_urlencoded::to_string([("back", back), ("error", "stranger")])
            .unwrap_or_default();
        return Ok(Redirect::to(&format!("/sign-in?{query}")).into_response());
    }
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| {
        Refusal::page(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no random source for a session: {e}"),
        )
    })?;
    let value = shared.sessions.issue(person, shared.driver.now(), &nonce);
    let mut response = Redirect::to(back).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&set_cookie(&value)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Ends the session.
pub(crate) async fn sign_out(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let _: (Viewer, Csrf) = submitted(&shared, &headers, body).await?;
    let mut response = Redirect::to("/sign-in").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
