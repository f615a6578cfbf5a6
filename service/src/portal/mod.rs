//! The Portal: server-rendered pages for the people of a tenant (the overview of every
//! application set, a deployment's timeline and gate, the approvals waiting on the viewer, the
//! holds), and the forms that act on the pipeline.
//!
//! Every action goes through the same decision path as the API (`Shared::accept`), so the
//! ledger and the events record a click exactly as they record a `POST /v1/...`.
//!
//! Who may see and do what:
//! - Every page takes a signed session cookie ([`session`]) naming a person the tenant knows;
//!   without one the viewer is sent to the sign-in page. In local mode (the actor header is
//!   trusted) a person signs in by name, or is signed in from the trusted header when a proxy
//!   in front sets it.
//! - Every state-changing form carries the session's CSRF token; a POST without it, or with
//!   another session's, is refused with 403 before anything is decided.
//! - Every answer carries a Content-Security-Policy that allows only this origin's script and
//!   style (no inline script), `X-Frame-Options: DENY`, `nosniff` and no caching; maud
//!   escapes every value it renders.

mod actions;
mod assets;
mod overview;
mod pages;
pub(crate) mod session;
pub(crate) mod signin;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use cd_core::manifest::Catalog;

use crate::service::Shared;
use session::{COOKIE, Session};

/// The Content-Security-Policy of every Portal answer: only this origin's script, style and
/// forms; images from this origin or inline SVG data; never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The Portal's routes, to be merged with the API's.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/deployments/{id}", get(pages::deployment))
        .route("/approvals", get(pages::approvals))
        .route("/holds", get(pages::holds).post(actions::hold))
        .route("/holds/{environment}/lift", post(actions::unhold))
        .route("/deployments/{id}/verdict", post(actions::verdict))
        .route("/deployments/{id}/retry", post(actions::retry))
        .route("/deployments/{id}/cancel", post(actions::cancel))
        .route("/rollback", post(actions::rollback))
        .route("/releases/new", get(pages::release))
        .route("/dora", get(pages::dora))
        .route("/releases", post(actions::release))
        .route("/sign-in", get(pages::sign_in).post(actions::sign_in))
        .route("/sign-out", post(actions::sign_out))
        .route("/auth/callback", get(signin::callback))
        .route("/assets/portal.css", get(assets::css))
        .route("/assets/live.js", get(assets::live))
        .layer(axum::middleware::from_fn(secure_headers))
        .with_state(shared)
}

/// Adds the security headers to every Portal answer.
async fn secure_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    set_page_headers(response.headers_mut());
    response
}

/// The security headers every page carries (see the module's documentation).
fn set_page_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The person looking at a page, with their session and the manifests that know them.
#[derive(Clone, Debug)]
pub(crate) struct Viewer {
    pub(crate) session: Session,
    /// The CSRF token their forms carry.
    pub(crate) csrf: String,
    /// The catalog their person was checked against: what the page reads too.
    pub(crate) catalog: Arc<Catalog>,
}

impl Viewer {
    pub(crate) fn person(&self) -> &str {
        &self.session.person
    }
}

/// Why a request is not served.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Nobody signed in: go to the sign-in page, then back to `back`.
    SignIn { back: String },
    /// An answer with this status and message, as a page.
    Page { status: StatusCode, message: String },
}

impl Refusal {
    pub(crate) fn page(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal::Page {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::SignIn { back } => {
                let query = serde_urlencoded::to_string([("back", back)]).unwrap_or_default();
                Redirect::to(&format!("/sign-in?{query}")).into_response()
            }
            Refusal::Page { status, message } => {
                let mut response = html(pages::error_page(status, &message));
                *response.status_mut() = status;
                response
            }
        }
    }
}

/// Whether a request asks for a page (a browser's `Accept: text/html`), not JSON.
pub(crate) fn wants_page(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The page for an address the service has no page or route at.
pub(crate) fn no_such_page() -> Response {
    let mut response = Refusal::page(
        StatusCode::NOT_FOUND,
        "there is no page at this address: start from the overview",
    )
    .into_response();
    set_page_headers(response.headers_mut());
    response
}

/// A page's query string as `T`; a malformed one is refused as a Portal page (400, in fixed
/// words: nothing of the address is reflected), where axum would answer plain text.
#[derive(Debug)]
pub(crate) struct PageQuery<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequestParts<S> for PageQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Refusal> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(q)| PageQuery(q))
            .map_err(|_| {
                Refusal::page(
                    StatusCode::BAD_REQUEST,
                    "this page's address carries a query it does not take: open the page from \
                     the Portal's links",
                )
            })
    }
}

impl From<crate::api::ApiError> for Refusal {
    fn from(e: crate::api::ApiError) -> Self {
        Refusal::page(e.status(), e.message())
    }
}

/// The session a request's cookie carries, when it verifies now.
pub(crate) fn session_of(shared: &Shared, headers: &HeaderMap) -> Option<Session> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let value = session::cookie(cookies, COOKIE)?;
    shared.sessions.verify(value, shared.driver.now())
}

/// The person viewing: a session naming someone the tenant knows. `back` is where to return
/// after signing in.
pub(crate) async fn viewer(
    shared: &Shared,
    headers: &HeaderMap,
    back: &str,
) -> Result<Viewer, Refusal> {
    match session_of(shared, headers) {
        Some(session) => known(shared, session).await,
        None => Err(Refusal::SignIn {
            back: back.to_string(),
        }),
    }
}

/// The viewer a verified `session` names, when the tenant knows them.
pub(crate) async fn known(shared: &Shared, session: Session) -> Result<Viewer, Refusal> {
    let catalog = shared
        .driver
        .catalog_or_last_valid()
        .await
        .map_err(crate::api::ApiError::from_driver)?;
    if !catalog.knows(&session.person) {
        return Err(Refusal::page(
            StatusCode::FORBIDDEN,
            format!(
                "'{}' is not an OrganizationUser of this tenant",
                session.person
            ),
        ));
    }
    let csrf = shared.sessions.csrf(&session);
    Ok(Viewer {
        session,
        csrf,
        catalog,
    })
}

/// An HTML answer.
pub(crate) fn html(markup: maud::Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        Body::from(markup.into_string()),
    )
        .into_response()
}
