//! The one error form of the API: a status and a JSON body naming what is wrong.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cd_core::pipeline::Rejection;
use cd_ports::{DriverError, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// What kind of error, stable for programs; each goes with one status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: no credential, or one that does not hold.
    Unauthorized,
    /// 400 (a field is wrong), 415 (the body is not declared JSON), or 422 (the engine's
    /// report names another deployment than its path).
    InvalidRequest,
    /// 408: the body did not arrive in time.
    Timeout,
    /// 413: the body is too large.
    TooLarge,
    /// 404 (no such deployment or route) or 422 (the request names something the tenant does
    /// not have).
    Unknown,
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 403: the caller may not do this.
    Forbidden,
    /// 409: the pipeline refuses it in its current state.
    Refused,
    /// 503: a store, a repository or the manifests cannot serve it now; try again.
    Unavailable,
}

/// An API error: the status and a body naming what is wrong. Every error the API answers,
/// including unknown routes, wrong methods and bodies too large or too slow, has this form.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    /// What kind of error.
    error: ErrorCode,
    /// What is wrong, for people.
    message: String,
    /// The field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl ApiError {
    /// The status answered.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What is wrong, for people.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The field at fault, when one is.
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The same error, naming the field at fault.
    pub(super) fn on_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    pub(super) fn new(status: StatusCode, error: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            message: message.into(),
            field: None,
        }
    }

    pub(super) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    pub(super) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: ErrorCode::InvalidRequest,
            message: if field.is_empty() {
                message
            } else {
                format!("{field}: {message}")
            },
            field: (!field.is_empty()).then_some(field),
        }
    }

    /// A body that could not be read: too large (413), too slow (408) or cut off (400).
    pub(super) fn from_body(e: &cd_http::BodyError) -> Self {
        let code = match e {
            cd_http::BodyError::TooLarge { .. } => ErrorCode::TooLarge,
            cd_http::BodyError::TimedOut { .. } => ErrorCode::Timeout,
            cd_http::BodyError::Failed(_) => ErrorCode::InvalidRequest,
        };
        Self::new(e.status(), code, e.to_string())
    }

    pub(crate) fn from_store(e: StoreError) -> Self {
        Self::from_driver(e.into())
    }

    pub(crate) fn from_driver(e: DriverError) -> Self {
        match e {
            DriverError::Rejected(r) => Self::from_rejection(&r),
            DriverError::Manifests(p) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                format!("the manifests at the repository head are invalid: {p}"),
            ),
            other => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                other.to_string(),
            ),
        }
    }

    pub(super) fn from_rejection(r: &Rejection) -> Self {
        let message = r.to_string();
        match r {
            Rejection::InvalidInput { field, .. } => Self::invalid(*field, message),
            Rejection::UnknownDeployment(_) => {
                Self::new(StatusCode::NOT_FOUND, ErrorCode::Unknown, message)
            }
            Rejection::NotAStakeholder { .. } | Rejection::AuthorMayNotApprove { .. } => {
                Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
            }
            r if r.is_unknown() => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::Unknown,
                message,
            ),
            _ => Self::new(StatusCode::CONFLICT, ErrorCode::Refused, message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}
