//! The HTTP API. Every mutation authenticates first (401 before anything else is looked at),
//! then parses (400 naming the field), then decides; nothing is stored unless the decision is.
//!
//! `error` is the one error form, `wire` holds the request and answer types, `request` reads
//! bodies and paths, `identity` says who calls,
//! `commands` holds the mutations and `queries` the reads; this module assembles the router
//! and its OpenAPI document from them.

pub(crate) mod commands;
mod document;
mod error;
mod identity;
mod queries;
mod request;
mod views;
pub(crate) mod wire;

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::Shared;
use commands::{
    __path_approve, __path_cancel, __path_hold, __path_notify_build, __path_notify_pubsub,
    __path_release, __path_retry, __path_rollback, __path_status, __path_unhold, approve, cancel,
    hold, notify_build, notify_pubsub, release, retry, rollback, status, unhold,
};
pub use error::{ApiError, ErrorCode};
use queries::{
    __path_approvals, __path_healthz, __path_holds, __path_list, __path_metrics, __path_readyz,
    __path_show, approvals, healthz, holds, list, metrics, readyz, show,
};
pub use views::{
    BuildView, BundleAppView, ChangelogView, DeploymentDetail, DeploymentSummary, GateNeedsView,
    GateView, HoldView, LedgerAction, LedgerEntry, PendingApproval, Phase, StageState, StageView,
};
pub use wire::{
    Accepted, ApprovalBody, ApprovalsQuery, BuildNotification, CancelBody, ChangelogItem,
    EngineOutcome, HoldBody, ListQuery, PushEnvelope, PushMessage, ReleaseBody, RollbackBody,
    Status, StatusBody, Track, Verdict,
};

pub use commands::redeliver_notification;

/// Reads a build notification document (what CI posts, and what a Pub/Sub message carries) as
/// the API does: the one reader for every path a notification arrives by.
///
/// # Errors
/// What is wrong, naming the field.
pub fn parse_notification(data: &[u8]) -> Result<cd_core::pipeline::BuildNotified, String> {
    request::parse::<wire::BuildNotification>(data, "")
        .map(Into::into)
        .map_err(|e| e.message().to_string())
}

/// Reads a request body of type `T` as the API does (for the fuzz targets: the same reader,
/// the same errors).
///
/// # Errors
/// The [`ApiError`] the API would answer.
pub fn parse_body<T: for<'de> serde::Deserialize<'de>>(data: &[u8]) -> Result<T, ApiError> {
    request::parse(data, "")
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Infrastream CD", description = "The CD Manager's HTTP API"),
    // Types the routes name only through query parameters, which do not register them.
    components(schemas(wire::Status, wire::Track))
)]
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
        .routes(routes!(cancel))
        .routes(routes!(rollback))
        .routes(routes!(hold, unhold))
        .routes(routes!(holds))
        .routes(routes!(approvals))
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .with_state(shared.clone())
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    document::complete(&mut doc, &shared);
    let doc = Arc::new(doc);
    router
        // The Portal's pages and forms, at `/`: the same service, the same decisions.
        .merge(crate::portal::router(shared.clone()))
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        // Unknown routes and methods answer in the same JSON form as every other error; a
        // browser asking for a page gets the Portal's page saying so.
        .fallback(|headers: axum::http::HeaderMap| async move {
            if crate::portal::wants_page(&headers) {
                return crate::portal::no_such_page();
            }
            ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::Unknown,
                "no such route (see /openapi.json)",
            )
            .into_response()
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                "this route does not take this method (the Allow header lists those it takes)",
            )
        })
}
