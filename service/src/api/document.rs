//! What the OpenAPI document says of whole classes of operations, written once instead of on
//! every handler: the credentials each class takes (as this service is configured: the
//! document describes the running service, not every configuration), and the answers every
//! operation of a class can give.
//!
//! - Operators' operations (tag `operators`) and the reads of the pipeline (tag `queries`)
//!   take a person: the trusted actor header in local mode, an OIDC bearer token when OIDC is
//!   configured (for reads, a machine's token of an allowed subject too). They can answer 401
//!   (no credential) and 403 (not a person the tenant knows).
//! - The engine's report (tag `engine`) takes a machine: the body's HMAC signature, or an
//!   OIDC bearer token. Notifications (tag `notifications`) take the same, unless the service
//!   accepts unsigned ones (loopback). They can answer 401.
//! - An operation with a body can answer 408 (too slow), 413 (too large) and 415 (not JSON).
//! - Every operation that reads the store can answer 503.

use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

use crate::auth::SIGNATURE_HEADER;
use crate::service::Shared;

/// The security scheme names the document uses.
const ACTOR: &str = "actor_header";
const BEARER: &str = "oidc_bearer";
const SIGNATURE: &str = "body_signature";

/// Completes `doc` for the service `shared` describes.
pub(super) fn complete(doc: &mut OpenApi, shared: &Shared) {
    let components = doc.components.get_or_insert_with(Default::default);
    if shared.trust_actor_header {
        components.add_security_scheme(
            ACTOR,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                shared.actor_header.clone(),
                "Who acts, trusted as sent: local mode only".to_string(),
            ))),
        );
    }
    if shared.oidc.is_some() {
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An OIDC token of the configured issuer"))
                    .build(),
            ),
        );
    }
    components.add_security_scheme(
        SIGNATURE,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            SIGNATURE_HEADER,
            "sha256= and the hex HMAC-SHA256 of the body under the webhook secret",
        ))),
    );
    let people: Vec<_> = [
        shared.trust_actor_header.then_some(ACTOR),
        shared.oidc.is_some().then_some(BEARER),
    ]
    .into_iter()
    .flatten()
    .map(|name| SecurityRequirement::new(name, Vec::<String>::new()))
    .collect();
    let machines: Vec<_> = [Some(SIGNATURE), shared.oidc.is_some().then_some(BEARER)]
        .into_iter()
        .flatten()
        .map(|name| SecurityRequirement::new(name, Vec::<String>::new()))
        .collect();
    for item in doc.paths.paths.values_mut() {
        for operation in [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            let tags = operation.tags.clone().unwrap_or_default();
            let tagged = |t: &str| tags.iter().any(|tag| tag == t);
            let person = tagged("operators") || tagged("queries");
            let security = if person {
                Some(people.clone())
            } else if tagged("engine") || (tagged("notifications") && shared.sign_notifications) {
                Some(machines.clone())
            } else {
                None
            };
            let responses = &mut operation.responses.responses;
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| error(description));
            };
            if let Some(security) = security {
                add("401", "No credential, or one that does not hold");
                if person {
                    add(
                        "403",
                        "Not a person the tenant knows, or not allowed to do this",
                    );
                }
                operation.security = Some(security);
            }
            if operation.request_body.is_some() {
                add("408", "The body did not arrive in time");
                add("413", "The body is larger than the service reads");
                add("415", "The body is not declared application/json");
            }
            if !tagged("operations") {
                add("503", "The store or the manifests cannot serve this now");
            }
        }
    }
}

/// A response whose body is the API's one error form.
fn error(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ApiError")))
                    .build(),
            )
            .build(),
    )
}
