//! Reading a request: bodies (within the listener's limits, and only once the caller is
//! authenticated), JSON (declared as such), path segments, and the field a bad one gets wrong.

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;

use super::error::{ApiError, ErrorCode};
use crate::service::Shared;

/// Reads a request body within the service's size and time limits. Handlers call it after
/// they have checked the credentials a header carries: an unauthenticated caller's body is
/// never read.
pub(super) async fn read(shared: &Shared, body: Body) -> Result<Bytes, ApiError> {
    cd_http::read_body(body, &shared.limits)
        .await
        .map_err(|e| ApiError::from_body(&e))
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(
    body: &[u8],
    prefix: &str,
) -> Result<T, ApiError> {
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
pub(super) type PathArg = Result<Path<String>, axum::extract::rejection::PathRejection>;

pub(super) fn path_value(p: PathArg, name: &str) -> Result<String, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::invalid(name, e.body_text()))
}

/// A JSON request body of type `T`, declared as JSON, read within the limits: 415 before the
/// body is read when it is not declared so.
pub(super) async fn json<T: for<'de> Deserialize<'de>>(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    json_body(headers)?;
    parse(&read(shared, body).await?, "")
}

/// A body already read (by a credential check that covers it) as JSON of type `T`.
pub(super) fn json_read<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    json_body(headers)?;
    parse(body, "")
}

/// Bodies are JSON, declared as such: a browser cannot send that across origins without
/// asking first, so a page cannot post to a service on the user's machine.
pub(super) fn json_body(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = declared.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::InvalidRequest,
            format!("content-type must be application/json, not '{declared}'"),
        )
        .on_field("content-type"))
    }
}
