//! The Portal's sign-in through an OIDC issuer the test runs: discovery, an authorization
//! endpoint it never needs to serve (the test plays the person at the issuer), a token endpoint
//! that checks PKCE as a real issuer does (the verifier must hash to the challenge the
//! authorization request carried), and ID tokens signed with the issuer's key.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use base64::Engine as _;
use cd_service::config::PortalSignIn;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::oidc::{Key, now, rsa_key, start_with, token};

/// What the issuer knows of a code it handed out: the PKCE challenge and the nonce of the
/// authorization request, and who signed in.
#[derive(Clone)]
struct Grant {
    challenge: String,
    nonce: String,
    email: String,
    verified: bool,
}

#[derive(Clone)]
struct Issuer {
    base: String,
    key: Key,
    grants: Arc<Mutex<BTreeMap<String, Grant>>>,
}

async fn token_endpoint(State(issuer): State<Issuer>, body: String) -> (StatusCode, Json<Value>) {
    let form: BTreeMap<String, String> = serde_urlencoded::from_str(&body).unwrap();
    let refuse = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant", "error_description": why })),
        )
    };
    if form.get("grant_type").map(String::as_str) != Some("authorization_code")
        || form.get("client_id").map(String::as_str) != Some("portal")
        || form.get("redirect_uri").map(String::as_str) != Some("http://127.0.0.1/auth/callback")
    {
        return refuse(&format!("unexpected request: {form:?}"));
    }
    // A code is good once.
    let Some(grant) = issuer
        .grants
        .lock()
        .unwrap()
        .remove(form.get("code").map_or("", String::as_str))
    else {
        return refuse("unknown or used code");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let hashed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    if hashed != grant.challenge {
        return refuse("PKCE verification failed");
    }
    let id_token = token(
        &issuer.key,
        "k1",
        &json!({
            "iss": issuer.base, "aud": "portal", "exp": now() + 300, "iat": now() - 5,
            "sub": "person-1", "email": grant.email, "email_verified": grant.verified, "nonce": grant.nonce,
        }),
    );
    (
        StatusCode::OK,
        Json(
            json!({ "access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token }),
        ),
    )
}

async fn run_issuer(key: Key) -> Issuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issuer = Issuer {
        base: base.clone(),
        key: key.clone(),
        grants: Arc::default(),
    };
    let doc = json!({
        "issuer": base,
        "jwks_uri": format!("{base}/keys"),
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
    });
    let jwk = key.jwk.clone();
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(doc) }),
        )
        .route(
            "/keys",
            get(move || async move { Json(json!({ "keys": [jwk] })) }),
        )
        .route("/token", post(token_endpoint))
        .with_state(issuer.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    issuer
}

struct Answer {
    status: u16,
    location: String,
    cookies: Vec<String>,
    text: String,
}

async fn get_page(url: &str, cookie: Option<&str>) -> Answer {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client.get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    Answer {
        status: resp.status().as_u16(),
        location: resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        cookies: resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect(),
        text: resp.text().await.unwrap(),
    }
}

/// The parameters of the authorization request a sign-in began, and its cookie.
async fn begin(server: &str) -> (BTreeMap<String, String>, String) {
    let started = get_page(&format!("{server}/sign-in?back=/holds"), None).await;
    assert_eq!(started.status, 303, "{}", started.text);
    let url = reqwest::Url::parse(&started.location).unwrap();
    let params: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    let cookie = started
        .cookies
        .iter()
        .find(|c| c.starts_with("__Host-infrastream-login="))
        .expect("the sign-in's cookie")
        .clone();
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Max-Age=600"] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    (params, cookie.split(';').next().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_signs_people_in_with_the_code_flow_and_pkce() {
    let tmp = tempfile::tempdir().unwrap();
    let key = rsa_key(tmp.path(), "issuer", "k1");
    let issuer = run_issuer(key).await;
    let portal = PortalSignIn {
        client_id: "portal".into(),
        client_secret_file: None,
        redirect_url: "http://127.0.0.1/auth/callback".into(),
        scopes: vec!["email".into()],
    };
    let (server, stop) = start_with(&tmp.path().join("svc"), &issuer.base, Some(portal)).await;

    // A page without a session goes to sign in, which goes to the issuer with PKCE and a nonce.
    let page = get_page(&format!("{server}/holds"), None).await;
    assert_eq!(
        (page.status, page.location.as_str()),
        (303, "/sign-in?back=%2Fholds")
    );
    let (params, login) = begin(&server).await;
    assert!(
        params.contains_key("state") && params.contains_key("nonce"),
        "{params:?}"
    );
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], "portal");
    assert_eq!(params["redirect_uri"], "http://127.0.0.1/auth/callback");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["scope"], "openid email");
    let callback =
        |code: &str, state: &str| format!("{server}/auth/callback?code={code}&state={state}");
    let grant_as = |code: &str, challenge: &str, nonce: &str, email: &str, verified: bool| {
        issuer.grants.lock().unwrap().insert(
            code.into(),
            Grant {
                challenge: challenge.into(),
                nonce: nonce.into(),
                email: email.into(),
                verified,
            },
        );
    };
    let grant = |code: &str, challenge: &str, nonce: &str, email: &str| {
        grant_as(code, challenge, nonce, email, true);
    };

    // The issuer's answer with another state, or without the cookie that began the sign-in,
    // goes nowhere.
    grant(
        "c1",
        &params["code_challenge"],
        &params["nonce"],
        "jane@northwind.example",
    );
    let wrong_state = get_page(&callback("c1", "forged"), Some(&login)).await;
    assert_eq!(wrong_state.status, 403, "{}", wrong_state.text);
    let no_cookie = get_page(&callback("c1", &params["state"]), None).await;
    assert_eq!(no_cookie.status, 403, "{}", no_cookie.text);
    assert!(
        no_cookie.text.contains("no sign-in under way"),
        "{}",
        no_cookie.text
    );
    // The issuer saying no is shown by its code; a code it does not define, or a description,
    // is not repeated under the service's name.
    let issuer_error = get_page(
        &format!("{server}/auth/callback?error=access_denied&error_description=Call+555"),
        Some(&login),
    )
    .await;
    assert_eq!(issuer_error.status, 403);
    assert!(
        issuer_error.text.contains("(access_denied)"),
        "{}",
        issuer_error.text
    );
    assert!(!issuer_error.text.contains("555"), "{}", issuer_error.text);
    let made_up = get_page(
        &format!("{server}/auth/callback?error=Call+555"),
        Some(&login),
    )
    .await;
    assert!(
        made_up.text.contains("(an error)") && !made_up.text.contains("555"),
        "{}",
        made_up.text
    );

    // The right state and cookie: the code is exchanged with the PKCE verifier, the ID token
    // verified, and a session starts for the person it names.
    let done = get_page(&callback("c1", &params["state"]), Some(&login)).await;
    assert_eq!(done.status, 303, "{}", done.text);
    assert_eq!(done.location, "/holds");
    let session = done
        .cookies
        .iter()
        .find(|c| c.starts_with("__Host-infrastream-session="))
        .expect("a session")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(
        done.cookies
            .iter()
            .any(|c| c.starts_with("__Host-infrastream-login=;") && c.contains("Max-Age=0")),
        "the sign-in's cookie is ended: {:?}",
        done.cookies
    );
    let holds = get_page(&format!("{server}/holds"), Some(&session)).await;
    assert_eq!(holds.status, 200, "{}", holds.text);
    assert!(
        holds
            .text
            .contains("Signed in as <strong>jane@northwind.example</strong>"),
        "{}",
        holds.text
    );
    // A sign-in cookie does not open as a session (the unit tests of `session` show the MAC
    // binds the kind).
    let as_session = login.replacen(
        "__Host-infrastream-login=",
        "__Host-infrastream-session=",
        1,
    );
    assert_eq!(
        get_page(&format!("{server}/holds"), Some(&as_session))
            .await
            .status,
        303
    );
    // The code was good once.
    let again = get_page(&callback("c1", &params["state"]), Some(&login)).await;
    assert_eq!(again.status, 502, "{}", again.text);

    // A verifier that does not hash to the challenge: the issuer refuses, and so do we.
    let (params, login) = begin(&server).await;
    grant(
        "c2",
        "another-challenge",
        &params["nonce"],
        "jane@northwind.example",
    );
    let pkce = get_page(&callback("c2", &params["state"]), Some(&login)).await;
    assert_eq!(pkce.status, 502, "{}", pkce.text);
    assert!(
        pkce.text.contains("PKCE verification failed"),
        "{}",
        pkce.text
    );

    // An ID token minted for another sign-in (its nonce) is refused.
    let (params, login) = begin(&server).await;
    grant(
        "c3",
        &params["code_challenge"],
        "someone-elses-nonce",
        "jane@northwind.example",
    );
    let nonce = get_page(&callback("c3", &params["state"]), Some(&login)).await;
    assert_eq!(nonce.status, 401, "{}", nonce.text);
    assert!(nonce.text.contains("nonce"), "{}", nonce.text);

    // An email the issuer has not verified names nobody.
    let (params, login) = begin(&server).await;
    grant_as(
        "c5",
        &params["code_challenge"],
        &params["nonce"],
        "jane@northwind.example",
        false,
    );
    let unverified = get_page(&callback("c5", &params["state"]), Some(&login)).await;
    assert_eq!(unverified.status, 401, "{}", unverified.text);
    assert!(
        unverified.text.contains("not verified"),
        "{}",
        unverified.text
    );

    // Someone the tenant does not know gets no session, and is told so.
    let (params, login) = begin(&server).await;
    grant(
        "c4",
        &params["code_challenge"],
        &params["nonce"],
        "mallory@elsewhere.example",
    );
    let stranger = get_page(&callback("c4", &params["state"]), Some(&login)).await;
    assert_eq!(stranger.status, 303);
    assert!(
        !stranger
            .cookies
            .iter()
            .any(|c| c.starts_with("__Host-infrastream-session="))
    );
    let told = get_page(&format!("{server}{}", stranger.location), None).await;
    assert_eq!(told.status, 403);
    assert!(told.text.contains("do not know"), "{}", told.text);
    let _ = stop.send(());
}
