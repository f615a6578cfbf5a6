//! Who is calling: machines (the engine, CI) by signature or OIDC token, people by OIDC token or
//! the trusted header, and only people the tenant's manifests know.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};

use super::error::{ApiError, ErrorCode};
use super::request::read;
use crate::auth;
use crate::service::Shared;

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// A machine caller (the engine, CI): a valid HMAC of the body, or a valid OIDC token. The
/// body, which a signature covers, is read only once a credential is present and well formed;
/// it is returned for the handler to parse.
pub(super) async fn machine(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    if let Some(sig) = headers.get(auth::SIGNATURE_HEADER) {
        let sig = sig.to_str().unwrap_or_default();
        if auth::parse_signature(sig).is_none() {
            return Err(ApiError::unauthorized(format!(
                "{} must be sha256= and 64 hex digits",
                auth::SIGNATURE_HEADER
            )));
        }
        let body = read(shared, body).await?;
        return if auth::verify(&shared.secret, sig, &body) {
            Ok(body)
        } else {
            Err(ApiError::unauthorized(
                "the signature does not match the body",
            ))
        };
    }
    match (bearer(headers), &shared.oidc) {
        (Some(token), Some(oidc)) => {
            oidc.machine(token).await.map_err(ApiError::unauthorized)?;
            read(shared, body).await
        }
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
pub(super) async fn actor(shared: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    let actor = identified(shared, headers).await?;
    known(shared, actor).await
}

/// `actor`, when the tenant's manifests know them; 403 otherwise.
async fn known(shared: &Shared, actor: String) -> Result<String, ApiError> {
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
            ErrorCode::Forbidden,
            format!("'{actor}' is not an OrganizationUser of this tenant"),
        ))
    }
}

/// Who reads: a person the tenant knows (as [`actor`] checks), or a machine presenting an
/// OIDC token of an allowed subject (CI waiting on a deployment). Reads say what the pipeline
/// holds, who approved what and why: they are not for anyone who can reach the port. A token
/// is verified once, whichever it turns out to name.
pub(super) async fn reader(shared: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    if let (Some(token), Some(oidc)) = (bearer(headers), &shared.oidc) {
        return match oidc.reader(token).await.map_err(ApiError::unauthorized)? {
            auth::Caller::Machine(subject) => Ok(subject),
            auth::Caller::Person(person) => known(shared, person).await,
        };
    }
    actor(shared, headers).await
}

pub(super) async fn identified(shared: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
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

/// Checks who sends a build notification: CI's signature, unless the service accepts unsigned
/// notifications (loopback only). The body, read once the sender is known.
pub(super) async fn notifier(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    if shared.sign_notifications {
        machine(shared, headers, body).await
    } else {
        read(shared, body).await
    }
}
