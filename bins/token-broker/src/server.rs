//! The HTTP face: `POST /v1/token`, `/healthz`, `/readyz`, `/metrics`.
//!
//! The order inside `POST /v1/token` is the security argument: the credential is verified
//! before the body is read (a request without a valid token gets 401 whatever it carries), the
//! rate limit is counted on the verified `repository` claim, the body is read up to 64 KiB (and within 10 s),
//! then the policy decides, and only then is GitHub called, with exactly the request's scope.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cd_core::broker::{Subject, TokenRequest, decide};
use cd_github::{GithubApi, Installation, ScopedTokenError};
use cd_oidc::{ActionsClaims, Algorithm, IssuerConfig, Verifier};
use serde_json::{Value, json};

use crate::audit::{Audit, token_hash};
use crate::config::Config;
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::policies::{self, Policies, Source};

/// Request bodies larger than this are refused (413).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What one client may take: the shared listener's defaults, with the broker's small bodies.
const LIMITS: cd_http::Limits = cd_http::Limits {
    header_timeout: Duration::from_secs(10),
    body_timeout: Duration::from_secs(10),
    max_body_bytes: MAX_BODY_BYTES,
    max_connections: 1024,
};
/// How long a GitHub reachability answer is reused by `/readyz`.
const GITHUB_CHECK_TTL: Duration = Duration::from_secs(30);

/// Everything a request needs.
pub struct Broker {
    verifier: Verifier,
    github: GithubApi,
    policies: Arc<Policies>,
    limiter: Limiter,
    metrics: Metrics,
    audit: Audit,
    github_check: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("verifier", &self.verifier)
            .field("github", &self.github)
            .finish_non_exhaustive()
    }
}

/// An error answer: `{"error", "reason"}` (and `field` for a bad body), never a token.
fn answer(status: StatusCode, reason: &str, message: &str, field: Option<&str>) -> Response {
    let body = match field {
        Some(f) => json!({ "error": message, "reason": reason, "field": f }),
        None => json!({ "error": message, "reason": reason }),
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The bearer token of `Authorization`, the scheme in any case.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl Broker {
    fn refuse(
        &self,
        status: StatusCode,
        reason: &'static str,
        message: &str,
        claims: Option<&ActionsClaims>,
        field: Option<&str>,
    ) -> Response {
        self.metrics.refused(reason);
        match claims {
            Some(c) => {
                tracing::info!(
                    status = status.as_u16(),
                    reason,
                    repository = ?c.repository,
                    git_ref = ?c.git_ref,
                    event = ?c.event_name,
                    run_id = ?c.run_id,
                    message = ?message,
                    "token refused"
                );
                self.audit.record(
                    "token.refused",
                    json!({
                        "status": status.as_u16(),
                        "reason": reason,
                        "message": message,
                        "subject": subject_json(c),
                    }),
                );
            }
            None => tracing::info!(
                status = status.as_u16(),
                reason,
                message = ?message,
                "token refused"
            ),
        }
        answer(status, reason, message, field)
    }
}

fn subject_json(c: &ActionsClaims) -> Value {
    json!({
        "repository": c.repository,
        "repositoryId": c.repository_id,
        "ref": c.git_ref,
        "event": c.event_name,
        "workflowRef": c.job_workflow_ref,
        "runId": c.run_id,
        "runAttempt": c.run_attempt,
        "actor": c.actor,
        "sha": c.sha,
    })
}

async fn token(State(broker): State<Arc<Broker>>, headers: HeaderMap, body: Body) -> Response {
    let b = &*broker;
    // 1. The credential, before anything else.
    let Some(jwt) = bearer(&headers) else {
        return b.refuse(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "an Authorization: Bearer <GitHub Actions OIDC token> header is required",
            None,
            None,
        );
    };
    let verified = match b.verifier.verify(jwt).await {
        Ok(v) => v,
        Err(e) if e.is_refusal() => {
            return b.refuse(
                StatusCode::UNAUTHORIZED,
                e.reason(),
                &e.to_string(),
                None,
                None,
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "the OIDC issuer's keys are unavailable");
            return b.refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                e.reason(),
                "the OIDC issuer's keys are unavailable; try again shortly",
                None,
                None,
            );
        }
    };
    let claims = match ActionsClaims::read(&verified.claims) {
        Ok(c) => c,
        Err(e) => {
            return b.refuse(
                StatusCode::UNAUTHORIZED,
                e.reason(),
                &e.to_string(),
                None,
                None,
            );
        }
    };
    // 2. The rate limit, on the verified repository.
    if let Err(wait) = b
        .limiter
        .take(&claims.repository.to_ascii_lowercase(), Instant::now())
    {
        let mut response = b.refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            &format!(
                "too many requests for {}; retry in {wait} s",
                claims.repository
            ),
            Some(&claims),
            None,
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    // 3. The body, bounded in size and time.
    let bytes = match cd_http::read_body(body, &LIMITS).await {
        Ok(bytes) => bytes,
        Err(e @ cd_http::BodyError::TooLarge { .. }) => {
            return b.refuse(
                e.status(),
                "body_too_large",
                &e.to_string(),
                Some(&claims),
                None,
            );
        }
        Err(e) => {
            return b.refuse(
                e.status(),
                "bad_request",
                &e.to_string(),
                Some(&claims),
                Some("body"),
            );
        }
    };
    let request = match TokenRequest::parse(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return b.refuse(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &e.to_string(),
                Some(&claims),
                Some(&e.field),
            );
        }
    };
    // 4. The policy.
    let Some(set) = b.policies.current() else {
        return b.refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_policies",
            "no valid policy set is loaded",
            Some(&claims),
            None,
        );
    };
    let subject = Subject {
        repository: claims.repository.clone(),
        repository_id: claims.repository_id.clone(),
        git_ref: claims.git_ref.clone(),
        event_name: claims.event_name.clone(),
        job_workflow_ref: claims.job_workflow_ref.clone(),
    };
    let grant = match decide(&set.policies, &subject, &request) {
        Ok(g) => g,
        Err(refusal) => {
            return b.refuse(
                StatusCode::FORBIDDEN,
                refusal.reason(),
                &refusal.to_string(),
                Some(&claims),
                None,
            );
        }
    };
    // 5. GitHub, with exactly the request's scope.
    let repositories: Vec<String> = grant.repositories.iter().cloned().collect();
    let permissions: BTreeMap<String, String> = grant
        .permissions
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().to_string()))
        .collect();
    let issued = match b.github.scoped_token(&repositories, &permissions).await {
        Ok(t) => t,
        Err(ScopedTokenError::Refused(m)) => {
            return b.refuse(
                StatusCode::FORBIDDEN,
                "github_refused",
                &format!("GitHub will not issue this scope to the App: {m}"),
                Some(&claims),
                None,
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "GitHub did not issue a token");
            return b.refuse(
                StatusCode::BAD_GATEWAY,
                "github_unavailable",
                "GitHub did not issue a token; try again shortly",
                Some(&claims),
                None,
            );
        }
    };
    let hash = token_hash(&issued.token);
    b.metrics.issued();
    tracing::info!(
        repository = ?claims.repository,
        git_ref = ?claims.git_ref,
        event = ?claims.event_name,
        run_id = ?claims.run_id,
        policy = ?grant.policy,
        repositories = ?repositories,
        permissions = ?permissions,
        expires_at = ?issued.expires_at,
        token_sha256 = %hash,
        "token issued"
    );
    b.audit.record(
        "token.issued",
        json!({
            "subject": subject_json(&claims),
            "policy": grant.policy,
            "repositories": repositories,
            "permissions": permissions,
            "expiresAt": issued.expires_at,
            "tokenSha256": hash,
        }),
    );
    let mut response = axum::Json(json!({
        "token": issued.token,
        "expires_at": issued.expires_at,
        "repositories": issued.repositories,
        "permissions": issued.permissions,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(b): State<Arc<Broker>>) -> Response {
    let github = {
        let mut check = b.github_check.lock().await;
        match check.as_ref() {
            Some((at, result)) if at.elapsed() < GITHUB_CHECK_TTL => result.clone(),
            _ => {
                let result = b
                    .github
                    .check_installation()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                *check = Some((Instant::now(), result.clone()));
                result
            }
        }
    };
    let current = b.policies.current();
    let ready = current.is_some() && github.is_ok();
    let body = json!({
        "ready": ready,
        "policies": current.as_ref().map(|c| c.policies.len()),
        "policyVersion": current.as_ref().map(|c| c.version.clone()),
        "policyProblem": b.policies.problem(),
        "github": github.err().unwrap_or_else(|| "ok".into()),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(b): State<Arc<Broker>>) -> Response {
    let policies = b.policies.current().map_or(0, |c| c.policies.len());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        b.metrics.render(policies, b.verifier.key_fetches()),
    )
        .into_response()
}

async fn not_found() -> Response {
    answer(StatusCode::NOT_FOUND, "not_found", "no such endpoint", None)
}

/// Starts the broker: reads the key and the policies (refusing to start without a valid
/// set), serves until `shutdown`, and re-reads the policies every `reload_seconds`.
///
/// # Errors
/// A sentence naming what could not be started.
pub async fn serve(
    config: Config,
    on_listen: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let key = std::fs::read_to_string(&config.github.private_key_file).map_err(|e| {
        format!(
            "github.private_key_file {}: {e}",
            config.github.private_key_file.display()
        )
    })?;
    let github = GithubApi::app(
        &config.github.api,
        &config.github.app_id,
        &key,
        Installation::Owner(config.github.owner.clone()),
    )
    .map_err(|e| format!("github.private_key_file: {e}"))?;
    drop(key);
    let verifier = Verifier::new(IssuerConfig {
        issuer: config.oidc.issuer.clone(),
        audience: config.oidc.audience.clone(),
        // GitHub signs its Actions tokens with RS256, and nothing else is accepted.
        algorithms: vec![Algorithm::RS256],
        jwks_origins: Vec::new(),
        schedule: cd_oidc::Schedule::default(),
    })
    .map_err(|e| format!("oidc: {e}"))?;
    let source = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || Source::open(&config))
            .await
            .map_err(|e| e.to_string())??
    };
    let source = Arc::new(source);
    let policies = Arc::new(Policies::default());
    let first = {
        let source = source.clone();
        let owner = config.github.owner.clone();
        tokio::task::spawn_blocking(move || policies::load(&source, &owner))
            .await
            .map_err(|e| e.to_string())?
    };
    let first = first.map_err(|e| format!("the token policies: {e}"))?;
    policies.apply(Ok(first));
    let broker = Arc::new(Broker {
        verifier,
        github,
        policies: policies.clone(),
        limiter: Limiter::new(config.rate_limit_per_minute),
        metrics: Metrics::default(),
        audit: Audit::open(config.audit_log.as_deref())?,
        github_check: tokio::sync::Mutex::new(None),
    });
    let reload = Duration::from_secs(config.reload_seconds);
    let owner = config.github.owner.clone();
    let reloader = tokio::spawn(async move {
        let mut tick = tokio::time::interval(reload);
        tick.tick().await;
        loop {
            tick.tick().await;
            let source = source.clone();
            let owner = owner.clone();
            let read = tokio::task::spawn_blocking(move || policies::load(&source, &owner));
            if let Ok(read) = read.await {
                policies.apply(read);
            }
        }
    });
    let app = Router::new()
        .route("/v1/token", post(token))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(broker);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("listen {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, issuer = %config.oidc.issuer, owner = %config.github.owner, "token broker listening");
    on_listen(addr);
    let served = cd_http::serve(listener, app, LIMITS, shutdown)
        .await
        .map_err(|e| e.to_string());
    reloader.abort();
    served
}
