//! Reading a request: JSON bodies (declared as such), path segments, and the field a bad one
//! gets wrong.

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;

use super::error::ApiError;

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

/// Bodies are JSON, declared as such: a browser cannot send that across origins without
/// asking first, so a page cannot post to a service on the user's machine.
/// A JSON request body: declared as JSON (or not declared), and of type `T`.
pub(super) fn json<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    json_body(headers)?;
    parse(body, "")
}

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
            "invalid_request",
            format!("content-type must be application/json, not '{declared}'"),
        )
        .on_field("content-type"))
    }
}
