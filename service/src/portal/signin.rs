//! Signing in to the Portal through the configured OIDC issuer: the authorization-code flow
//! with PKCE (RFC 7636, S256) and a nonce, by the `oauth2` crate; the ID token is verified by
//! `cd-oidc` (issuer, audience = the Portal's client id, expiry, signature by the issuer's
//! published keys), then its nonce is compared and the person read from the configured claim.
//!
//! What the browser must bring back is sealed in a short-lived cookie of its own (state, nonce,
//! PKCE verifier, where to return), so any replica can finish a sign-in another one began, and
//! a callback without the cookie that began it (a forged or replayed link) goes nowhere.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cd_core::pipeline::Timestamp;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::session::cookie;
use super::{PageQuery, Refusal};
use crate::config::{OidcConfig, PortalSignIn};
use crate::service::Shared;

/// The cookie carrying a sign-in under way.
pub(crate) const LOGIN_COOKIE: &str = "__Host-infrastream-login";

/// How long a person has to come back from the issuer.
const LOGIN_MS: i64 = 10 * 60 * 1000;

/// The token endpoint's answer: the standard fields and the ID token.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct IdTokenField {
    id_token: String,
}

impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

type PortalClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The issuer's endpoints, from its discovery document.
#[derive(Debug, Deserialize)]
struct Discovery {
    authorization_endpoint: String,
    token_endpoint: String,
}

/// The Portal's OIDC client.
pub(crate) struct SignIn {
    config: PortalSignIn,
    issuer: String,
    actor_claim: String,
    secret: Option<String>,
    /// Verifies ID tokens: the issuer's keys, the Portal's client id as audience.
    id_tokens: cd_oidc::Verifier,
    /// No redirects: the token endpoint answers, it does not send us elsewhere.
    http: reqwest::Client,
    client: OnceCell<PortalClient>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("issuer", &self.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

impl SignIn {
    /// The sign-in of `oidc.portal`, when configured.
    ///
    /// # Errors
    /// The client secret file cannot be read, or the issuer is not an acceptable URL.
    pub(crate) fn new(
        oidc: &OidcConfig,
        algorithms: &[cd_oidc::Algorithm],
    ) -> Result<Option<Self>, String> {
        let Some(config) = oidc.portal.clone() else {
            return Ok(None);
        };
        let secret = match &config.client_secret_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        format!(
                            "auth.oidc.portal.client_secret_file {}: {e}",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        let id_tokens = cd_oidc::Verifier::new(cd_oidc::IssuerConfig {
            issuer: oidc.issuer.clone(),
            audience: config.client_id.clone(),
            algorithms: algorithms.to_vec(),
            jwks_origins: oidc.jwks_origins.clone(),
            schedule: cd_oidc::Schedule::default(),
        })
        .map_err(|e| format!("auth.oidc.portal: {e}"))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("auth.oidc.portal: {e}"))?;
        Ok(Some(SignIn {
            issuer: oidc.issuer.trim_end_matches('/').to_string(),
            actor_claim: oidc.actor_claim.clone(),
            config,
            secret,
            id_tokens,
            http,
            client: OnceCell::new(),
        }))
    }

    /// The client, built from the issuer's discovery document on first use.
    async fn client(&self) -> Result<&PortalClient, String> {
        self.client
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let doc: Discovery = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| format!("the issuer's discovery document {url}: {e}"))?
                    .json()
                    .await
                    .map_err(|e| format!("the issuer's discovery document {url}: {e}"))?;
                // The endpoints are the issuer's own kind of URL: https, or loopback for tests.
                for endpoint in [&doc.authorization_endpoint, &doc.token_endpoint] {
                    cd_oidc::checked_endpoint(endpoint).map_err(|e| e.to_string())?;
                }
                let mut client = oauth2::Client::new(ClientId::new(self.config.client_id.clone()))
                    .set_auth_uri(
                        AuthUrl::new(doc.authorization_endpoint).map_err(|e| e.to_string())?,
                    )
                    .set_token_uri(TokenUrl::new(doc.token_endpoint).map_err(|e| e.to_string())?)
                    .set_redirect_uri(
                        RedirectUrl::new(self.config.redirect_url.clone())
                            .map_err(|e| e.to_string())?,
                    );
                if let Some(secret) = &self.secret {
                    client = client.set_client_secret(ClientSecret::new(secret.clone()));
                }
                Ok(client)
            })
            .await
    }

    /// Where to send the browser to sign in, and the sealed cookie value that must come back.
    async fn begin(&self, shared: &Shared, back: &str) -> Result<(String, String), String> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random();
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", nonce.secret().clone());
        for scope in std::iter::once("openid").chain(
            self.config
                .scopes
                .iter()
                .map(String::as_str)
                .filter(|s| *s != "openid"),
        ) {
            request = request.add_scope(Scope::new(scope.to_string()));
        }
        let (url, state) = request.url();
        let sealed = shared.sessions.seal(
            "login",
            &[state.secret(), nonce.secret(), verifier.secret(), back],
            shared.driver.now().plus_ms(LOGIN_MS),
        );
        Ok((url.to_string(), sealed))
    }

    /// Finishes a sign-in: the person the ID token names, and where to return.
    async fn finish(
        &self,
        sealed: &[String],
        code: String,
    ) -> Result<String, (StatusCode, String)> {
        let [_, nonce, verifier, _] = sealed else {
            return Err((
                StatusCode::FORBIDDEN,
                "the sign-in cookie is malformed".into(),
            ));
        };
        let client = self
            .client()
            .await
            .map_err(|e| (StatusCode::BAD_GATEWAY, e))?;
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                (
                    StatusCode::BAD_GATEWAY,
                    format!("the issuer refused the code: {}", token_error(&e)),
                )
            })?;
        let id_token = &token.extra_fields().id_token;
        let verified = self.id_tokens.verify(id_token).await.map_err(|e| {
            (
                StatusCode::UNAUTHORIZED,
                format!("the ID token is refused: {e}"),
            )
        })?;
        let claims = verified.claims;
        if claims.get("nonce").and_then(|n| n.as_str()) != Some(nonce.as_str()) {
            return Err((
                StatusCode::UNAUTHORIZED,
                "the ID token's nonce is not this sign-in's".into(),
            ));
        }
        crate::auth::person_in(&claims, &self.actor_claim).map_err(|e| {
            (
                StatusCode::UNAUTHORIZED,
                format!("the ID token is refused: {e}"),
            )
        })
    }
}

/// What went wrong at the token endpoint, in words.
fn token_error<E: std::error::Error>(
    e: &oauth2::RequestTokenError<E, BasicErrorResponse>,
) -> String {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => {
            let mut text = r.error().to_string();
            if let Some(d) = r.error_description() {
                text.push_str(": ");
                text.push_str(d);
            }
            text
        }
        other => other.to_string(),
    }
}

/// `GET /sign-in` with OIDC: to the issuer, with the sign-in's cookie.
pub(crate) async fn begin(
    shared: &Shared,
    signin: &SignIn,
    back: &str,
) -> Result<Response, Refusal> {
    let (url, sealed) = signin
        .begin(shared, back)
        .await
        .map_err(|e| Refusal::page(StatusCode::BAD_GATEWAY, e))?;
    let mut response = Redirect::to(&url).into_response();
    let cookie = super::session::cookie_header(LOGIN_COOKIE, &sealed, LOGIN_MS / 1000);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub(crate) struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /auth/callback`: the issuer sends the browser back with a code (or an error).
pub(crate) async fn callback(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<Callback>,
) -> Result<Response, Refusal> {
    let Some(signin) = &shared.signin else {
        return Err(Refusal::page(
            StatusCode::NOT_FOUND,
            "this service does not sign people in through an OIDC issuer (auth.oidc.portal)",
        ));
    };
    if let Some(error) = q.error {
        // Only the codes OAuth and OpenID Connect define are named; a link can put anything in
        // the query, and this page speaks under the service's name.
        const KNOWN: [&str; 11] = [
            "access_denied",
            "invalid_request",
            "unauthorized_client",
            "unsupported_response_type",
            "invalid_scope",
            "server_error",
            "temporarily_unavailable",
            "interaction_required",
            "login_required",
            "consent_required",
            "account_selection_required",
        ];
        let code = KNOWN
            .iter()
            .find(|k| **k == error)
            .map_or("an error", |k| *k);
        return Err(Refusal::page(
            StatusCode::FORBIDDEN,
            format!("the issuer did not sign you in ({code})"),
        ));
    }
    let now: Timestamp = shared.driver.now();
    let sealed = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| cookie(c, LOGIN_COOKIE))
        .and_then(|v| shared.sessions.open("login", 4, v, now))
        .map(|(parts, _)| parts)
        .ok_or_else(|| {
            Refusal::page(
                StatusCode::FORBIDDEN,
                "no sign-in under way in this browser (or it took more than 10 minutes): start again",
            )
        })?;
    // CsrfToken compares without leaking where two values differ (oauth2's
    // timing-resistant-secret-traits).
    let state_ok = matches!((sealed.first(), &q.state), (Some(expected), Some(got))
        if CsrfToken::new(expected.clone()) == CsrfToken::new(got.clone()));
    if !state_ok {
        return Err(Refusal::page(
            StatusCode::FORBIDDEN,
            "the sign-in's state does not match: start again",
        ));
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return Err(Refusal::page(
            StatusCode::BAD_REQUEST,
            "the issuer sent no code",
        ));
    };
    let person = signin
        .finish(&sealed, code)
        .await
        .map_err(|(status, message)| Refusal::page(status, message))?;
    let back = super::pages::safe_back(sealed.get(3).map(String::as_str));
    let mut response = super::actions::start_session(&shared, &person, &back).await?;
    let clear = super::session::cookie_header(LOGIN_COOKIE, "", 0);
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}
