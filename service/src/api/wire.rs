//! The wire types: what requests carry and what mutations answer, as the OpenAPI document
//! describes them.

use std::collections::BTreeMap;

use cd_core::pipeline::{ApprovalAction, DeploymentStatus, DeploymentTrack, EngineStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a mutation did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The deployments the request concerns (created, found by deduplication, or addressed).
    pub deployments: Vec<String>,
    /// True when the request changed nothing (a repeat).
    pub duplicate: bool,
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

/// A hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// Filters of the deployment list.
#[derive(Debug, Deserialize, Serialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this application set.
    pub(super) application_set: Option<String>,
    /// Only this application (or bundles containing it).
    pub(super) application: Option<String>,
    /// PRE_RELEASE, RELEASE, HOTFIX or ROLLBACK.
    #[param(value_type = Option<String>)]
    pub(super) track: Option<DeploymentTrack>,
    /// PENDING, IN_PROGRESS, AWAITING_APPROVAL, SUCCEEDED, FAILED, REJECTED or SUPERSEDED.
    #[param(value_type = Option<String>)]
    pub(super) status: Option<DeploymentStatus>,
    /// At most this many, newest first (default 100, at most 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) limit: Option<usize>,
    /// The next page: the cursor the `Link` header of the previous page names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) after: Option<String>,
}
