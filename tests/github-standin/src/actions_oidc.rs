//! GitHub Actions' side of OIDC, as GitHub documents it: an issuer serving its discovery
//! document and JWKS (RS256 keys, `kid` named), the claims a job's token carries, and the
//! runtime endpoint a job asks for its token (`ACTIONS_ID_TOKEN_REQUEST_URL`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::openssl;

/// An RSA key: its private half for signing, its public half as PEM and as a JWK.
#[allow(missing_debug_implementations)]
pub struct RsaKey {
    pub kid: String,
    pub der: Vec<u8>,
    pub public_pem: String,
    pub jwk: Value,
}

impl RsaKey {
    /// A fresh 2048-bit key made by the openssl command.
    #[must_use]
    pub fn generate(dir: &Path, kid: &str) -> RsaKey {
        let pem = dir.join(format!("{kid}.pem"));
        let der = dir.join(format!("{kid}.der"));
        let public = dir.join(format!("{kid}.pub.pem"));
        let p = |x: &Path| x.to_str().unwrap().to_string();
        openssl(&["genrsa", "-traditional", "-out", &p(&pem), "2048"]);
        openssl(&[
            "rsa",
            "-in",
            &p(&pem),
            "-outform",
            "DER",
            "-traditional",
            "-out",
            &p(&der),
        ]);
        openssl(&["rsa", "-in", &p(&pem), "-pubout", "-out", &p(&public)]);
        let modulus = std::process::Command::new("openssl")
            .args(["rsa", "-noout", "-modulus", "-in", &p(&pem)])
            .output()
            .unwrap();
        let hex_n = String::from_utf8(modulus.stdout).unwrap();
        let n = hex::decode(hex_n.trim().trim_start_matches("Modulus=")).unwrap();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        RsaKey {
            kid: kid.to_string(),
            der: std::fs::read(&der).unwrap(),
            public_pem: std::fs::read_to_string(&public).unwrap(),
            jwk: json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64.encode(n), "e": "AQAB" }),
        }
    }

    /// `claims` signed RS256 with this key, `header` as given (its `alg` is overwritten).
    #[must_use]
    pub fn sign_with(&self, mut header: Header, claims: &Value) -> String {
        header.alg = Algorithm::RS256;
        encode(&header, claims, &EncodingKey::from_rsa_der(&self.der)).unwrap()
    }

    /// `claims` signed RS256 under this key's `kid`.
    #[must_use]
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        self.sign_with(header, claims)
    }
}

struct IssuerState {
    url: String,
    keys: Vec<Value>,
    discovery_fetches: AtomicUsize,
    key_fetches: AtomicUsize,
}

/// A GitHub Actions OIDC issuer on loopback.
#[allow(missing_debug_implementations)]
pub struct ActionsIssuer {
    pub url: String,
    pub key: RsaKey,
    state: Arc<IssuerState>,
    _dir: tempfile::TempDir,
}

async fn discovery(State(s): State<Arc<IssuerState>>) -> Json<Value> {
    s.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({
        "issuer": s.url,
        "jwks_uri": format!("{}/.well-known/jwks", s.url),
        "subject_types_supported": ["public", "pairwise"],
        "response_types_supported": ["id_token"],
        "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository", "repository_id", "event_name", "job_workflow_ref"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
    }))
}

async fn jwks(State(s): State<Arc<IssuerState>>) -> Json<Value> {
    s.key_fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "keys": s.keys }))
}

fn now() -> i64 {
    i64::try_from(crate::now()).unwrap()
}

impl ActionsIssuer {
    /// An issuer with one signing key, `k1`.
    pub async fn start() -> ActionsIssuer {
        let dir = tempfile::tempdir().unwrap();
        let key = RsaKey::generate(dir.path(), "k1");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(IssuerState {
            url: url.clone(),
            keys: vec![key.jwk.clone()],
            discovery_fetches: AtomicUsize::new(0),
            key_fetches: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/jwks", get(jwks))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ActionsIssuer {
            url,
            key,
            state,
            _dir: dir,
        }
    }

    /// How many times the JWKS was fetched.
    #[must_use]
    pub fn key_fetches(&self) -> usize {
        self.state.key_fetches.load(Ordering::SeqCst)
    }

    /// How many times the discovery document was fetched.
    #[must_use]
    pub fn discovery_fetches(&self) -> usize {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    /// The claims of a push to `main` of `repository` (id `repository_id`), as GitHub writes
    /// them, for `audience`.
    #[must_use]
    pub fn claims(&self, audience: &str, repository: &str, repository_id: &str) -> Value {
        let now = now();
        let owner = repository.split('/').next().unwrap_or_default();
        json!({
            "jti": format!("jti-{now}"),
            "sub": format!("repo:{repository}:ref:refs/heads/main"),
            "aud": audience,
            "ref": "refs/heads/main",
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "repository": repository,
            "repository_owner": owner,
            "repository_owner_id": "100",
            "repository_id": repository_id,
            "repository_visibility": "private",
            "run_id": "9000",
            "run_number": "12",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
            "actor": "jane",
            "actor_id": "7",
            "workflow": "Push into primary branch",
            "head_ref": "",
            "base_ref": "",
            "event_name": "push",
            "ref_type": "branch",
            "ref_protected": "true",
            "workflow_ref": format!("{repository}/.github/workflows/ci-primary-push.yml@refs/heads/main"),
            "job_workflow_ref": format!("{repository}/.github/workflows/ci-primary-push.yml@refs/heads/main"),
            "iss": self.url,
            "nbf": now - 5,
            "exp": now + 300,
            "iat": now - 5,
        })
    }

    /// `claims` signed by the issuer's key.
    #[must_use]
    pub fn sign(&self, claims: &Value) -> String {
        self.key.sign(claims)
    }

    /// The Actions runtime's token endpoint for one job: `GET ?audience=A` with the request
    /// bearer answers `{"value": <claims for audience A, signed>}`. Returns its URL and the
    /// bearer (`ACTIONS_ID_TOKEN_REQUEST_URL`, `ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
    pub async fn runtime(&self, claims: Value) -> (String, String) {
        let bearer = "actions-runtime-bearer".to_string();
        let der = self.key.der.clone();
        let kid = self.key.kid.clone();
        let expected = format!("bearer {bearer}");
        let app = axum::Router::new().route(
            "/token",
            get(
                move |Query(q): Query<std::collections::BTreeMap<String, String>>,
                      headers: HeaderMap| {
                    let mut claims = claims.clone();
                    let der = der.clone();
                    let kid = kid.clone();
                    let expected = expected.clone();
                    async move {
                        let auth = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        if !auth.eq_ignore_ascii_case(&expected) {
                            return (axum::http::StatusCode::UNAUTHORIZED, "").into_response();
                        }
                        if let Some(a) = q.get("audience") {
                            claims["aud"] = json!(a);
                        }
                        let mut header = Header::new(Algorithm::RS256);
                        header.kid = Some(kid);
                        let token =
                            encode(&header, &claims, &EncodingKey::from_rsa_der(&der)).unwrap();
                        Json(json!({ "count": 1, "value": token })).into_response()
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, bearer)
    }
}

/// A server that counts every request it gets: where a token's `jku` or a forged `iss`
/// points, to show nothing was fetched there.
#[allow(missing_debug_implementations)]
pub struct Trap {
    pub url: String,
    hits: Arc<AtomicUsize>,
}

impl Trap {
    pub async fn start() -> Trap {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().fallback(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Response::new(axum::body::Body::from("{}"))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Trap { url, hits }
    }

    #[must_use]
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
