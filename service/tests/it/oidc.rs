//! OIDC against a local issuer the test runs (discovery document and JWKS over HTTP), with RSA
//! keys made by the openssl command: who acts comes from the token, never from a header.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::routing::get;
use base64::Engine as _;
use cd_service::Config;
use cd_service::config::{EngineKind, OidcConfig};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

#[derive(Clone)]
pub(crate) struct Key {
    /// PKCS#1 DER of the private key.
    der: Vec<u8>,
    pub(crate) jwk: Value,
}

pub(crate) fn rsa_key(dir: &Path, name: &str, kid: &str) -> Key {
    let path = dir.join(format!("{name}.pem"));
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let der = dir.join(format!("{name}.der"));
    let ok = Command::new("openssl")
        .args(["rsa", "-traditional", "-outform", "DER", "-in"])
        .arg(&path)
        .arg("-out")
        .arg(&der)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let modulus = Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&path)
        .output()
        .unwrap();
    let hex_n = String::from_utf8(modulus.stdout).unwrap();
    let n = hex::decode(hex_n.trim().trim_start_matches("Modulus=")).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    Key {
        der: std::fs::read(&der).unwrap(),
        jwk: json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64.encode(n), "e": "AQAB" }),
    }
}

/// Serves a discovery document (naming `jwks_uri`, or our own `/keys`) and `keys`.
async fn issuer(keys: Vec<Value>, jwks_uri: Option<String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let doc =
        json!({ "issuer": base, "jwks_uri": jwks_uri.unwrap_or_else(|| format!("{base}/keys")) });
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(doc) }),
        )
        .route(
            "/keys",
            get(move || async move { Json(json!({ "keys": keys })) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub(crate) fn token(key: &Key, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(&header, claims, &EncodingKey::from_rsa_der(&key.der)).unwrap()
}

async fn start(dir: &Path, issuer: &str) -> (String, tokio::sync::oneshot::Sender<()>) {
    start_with(dir, issuer, None).await
}

/// The service with OIDC at `issuer`, and the Portal's sign-in when `portal` is set.
pub(crate) async fn start_with(
    dir: &Path,
    issuer: &str,
    portal: Option<cd_service::config::PortalSignIn>,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    };
    config.engine.kind = EngineKind::Webhook;
    config.auth.oidc = Some(OidcConfig {
        issuer: issuer.to_string(),
        audience: "infrastream".into(),
        actor_claim: "email".into(),
        machine_subjects: vec!["engine-*".into()],
        jwks_origins: Vec::new(),
        portal,
    });
    config.check().unwrap();
    let opened = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            cd_service::local::open(
                &config,
                &cd_service::tenant::example_files(),
                &BTreeMap::new(),
                cd_service::local::Overrides::default(),
            )
        })
        .await
        .unwrap()
        .unwrap()
    };
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        cd_service::serve(
            &config,
            opened,
            |a| {
                let _ = addr_tx.send(a);
            },
            async move {
                let _ = stop_rx.await;
            },
        )
        .await
        .unwrap();
    });
    let addr = tokio::time::timeout(Duration::from_secs(30), addr_rx)
        .await
        .unwrap()
        .unwrap();
    (format!("http://{addr}"), stop_tx)
}

async fn put_hold(server: &str, headers: &[(&str, String)]) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .put(format!("{server}/v1/holds/production"))
        .header("content-type", "application/json")
        .body(json!({ "reason": "freeze" }).to_string());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_come_from_verified_tokens_of_the_pinned_issuer_only() {
    let tmp = tempfile::tempdir().unwrap();
    let key = rsa_key(tmp.path(), "issuer", "k1");
    let stranger = rsa_key(tmp.path(), "stranger", "k1");
    let base = issuer(vec![key.jwk.clone()], None).await;
    let (server, stop) = start(&tmp.path().join("svc"), &base).await;
    let exp = now() + 300;
    let claims = |aud: &str, exp: u64| json!({ "iss": base, "aud": aud, "exp": exp, "iat": now() - 5, "email": "jane@northwind.example", "sub": "1" });
    let bearer = |t: String| vec![("authorization", format!("Bearer {t}"))];

    // With OIDC configured the actor header is not trusted.
    let (code, body) = put_hold(&server, &[("x-infrastream-actor", "jane".into())]).await;
    assert_eq!(code, 401, "{body}");
    // Wrong audience, expired, signed by another key under the same kid, unsigned garbage.
    for t in [
        token(&key, "k1", &claims("someone-else", exp)),
        token(&key, "k1", &claims("infrastream", now() - 600)),
        token(&stranger, "k1", &claims("infrastream", exp)),
        token(&key, "k2", &claims("infrastream", exp)),
        "not.a.token".to_string(),
    ] {
        let (code, body) = put_hold(&server, &bearer(t)).await;
        assert_eq!(code, 401, "{body}");
    }
    let good = bearer(token(&key, "k1", &claims("infrastream", exp)));
    let read_holds = |auth: Option<Vec<(&'static str, String)>>| {
        let server = server.clone();
        async move {
            let mut req = reqwest::Client::new().get(format!("{server}/v1/holds"));
            for (k, v) in auth.unwrap_or_default() {
                req = req.header(k, v);
            }
            let response = req.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (code, holds) = read_holds(Some(good.clone())).await;
    assert_eq!(code, 200, "{holds}");
    assert_eq!(holds, json!({}), "refused requests stored nothing");
    // Reads take a person too: none, or a bad token, is 401.
    let (code, _) = read_holds(None).await;
    assert_eq!(code, 401, "a read without a credential");
    let (code, _) = read_holds(Some(bearer("not.a.token".to_string()))).await;
    assert_eq!(code, 401, "a read with a bad token");
    // A machine of an allowed subject reads (CI waiting on its deployment), though it names no
    // person and so may not act.
    let machine = bearer(token(
        &key,
        "k1",
        &json!({ "iss": base, "aud": "infrastream", "exp": exp, "iat": now() - 5, "sub": "engine-7" }),
    ));
    let (code, _) = read_holds(Some(machine.clone())).await;
    assert_eq!(code, 200, "a machine's read");
    let (code, body) = put_hold(&server, &machine).await;
    assert_eq!(code, 401, "a machine does not act: {body}");

    // A good token: the hold is placed by the token's email.
    let (code, body) = put_hold(&server, &good).await;
    assert_eq!(code, 202, "{body}");
    let (_, holds) = read_holds(Some(good.clone())).await;
    assert_eq!(holds["production"]["actor"], "jane@northwind.example");

    // Tokens without an audience or an issuer, or with an unverified email, are refused.
    let mut no_aud = claims("infrastream", exp);
    no_aud.as_object_mut().unwrap().remove("aud");
    let mut no_iss = claims("infrastream", exp);
    no_iss.as_object_mut().unwrap().remove("iss");
    let mut unverified = claims("infrastream", exp);
    unverified["email_verified"] = json!(false);
    for c in [no_aud, no_iss, unverified] {
        let (code, body) = put_hold(&server, &bearer(token(&key, "k1", &c))).await;
        assert_eq!(code, 401, "{c}: {body}");
    }
    // A verified stranger to the tenant is refused.
    let mut stranger_claims = claims("infrastream", exp);
    stranger_claims["email"] = json!("mallory@evil.example");
    let (code, body) = put_hold(&server, &bearer(token(&key, "k1", &stranger_claims))).await;
    assert_eq!(code, 403, "{body}");

    // The status webhook takes machine tokens: only subjects in machine_subjects.
    let report = json!({ "deployment": "d-unknown", "stageIndex": 0, "status": "SUCCESS", "commitSha": "abc" }).to_string();
    let post_status = |t: String| {
        let report = report.clone();
        let server = server.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{server}/v1/deployments/d-unknown/status"))
                .bearer_auth(t)
                .header("content-type", "application/json")
                .body(report)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let mut engine = claims("infrastream", exp);
    engine["sub"] = json!("engine-europe-1");
    assert_eq!(
        post_status(token(&key, "k1", &engine)).await,
        404,
        "authenticated, then the deployment is unknown"
    );
    assert_eq!(
        post_status(token(&key, "k1", &claims("infrastream", exp))).await,
        401,
        "a person's token is not a machine's"
    );
    let mut wrong_aud = engine.clone();
    wrong_aud["aud"] = json!("someone-else");
    assert_eq!(post_status(token(&key, "k1", &wrong_aud)).await, 401);
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_published_anywhere_but_the_issuer_are_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let key = rsa_key(tmp.path(), "issuer", "k1");
    // A second server holds the keys; the issuer's discovery document points there.
    let elsewhere = issuer(vec![key.jwk.clone()], None).await;
    let base = issuer(vec![], Some(format!("{elsewhere}/keys"))).await;
    let (server, stop) = start(&tmp.path().join("svc"), &base).await;
    let t = token(
        &key,
        "k1",
        &json!({ "iss": base, "aud": "infrastream", "exp": now() + 300, "iat": now(), "sub": "1", "email": "jane" }),
    );
    let (code, body) = put_hold(&server, &[("authorization", format!("Bearer {t}"))]).await;
    assert_eq!(code, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("is not on"),
        "{body}"
    );
    let _ = stop.send(());
}
