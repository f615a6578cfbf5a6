//! The one error form of the API: a status and a JSON body naming what is wrong.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cd_core::pipeline::Rejection;
use cd_ports::{DriverError, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

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
    /// The same error, naming the field at fault.
    pub(super) fn on_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    pub(super) fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            message: message.into(),
            field: None,
        }
    }

    pub(super) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(super) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
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

    pub(super) fn from_store(e: StoreError) -> Self {
        Self::from_driver(e.into())
    }

    pub(super) fn from_driver(e: DriverError) -> Self {
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

    pub(super) fn from_rejection(r: &Rejection) -> Self {
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
