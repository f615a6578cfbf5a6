//! The verifier against a local issuer whose answers the test controls: when keys are
//! fetched, what a flood of made-up key ids costs, and what a hanging issuer does to tokens
//! whose key we already have.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use cd_github_standin::actions_oidc::RsaKey;
use cd_oidc::{Algorithm, IssuerConfig, OidcError, Schedule, Verifier};
use jsonwebtoken::Header;
use serde_json::{Value, json};

struct Issuer {
    url: String,
    keys: Value,
    fetches: AtomicUsize,
    hang: AtomicBool,
}

async fn discovery(State(s): State<Arc<Issuer>>) -> Json<Value> {
    Json(json!({ "issuer": s.url, "jwks_uri": format!("{}/keys", s.url) }))
}

async fn keys(State(s): State<Arc<Issuer>>) -> Json<Value> {
    s.fetches.fetch_add(1, Ordering::SeqCst);
    if s.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    Json(s.keys.clone())
}

async fn issuer(key: &RsaKey) -> Arc<Issuer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Issuer {
        url,
        keys: json!({ "keys": [key.jwk] }),
        fetches: AtomicUsize::new(0),
        hang: AtomicBool::new(false),
    });
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/keys", get(keys))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    state
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn claims(iss: &str) -> Value {
    json!({ "iss": iss, "aud": "broker", "sub": "s", "exp": now() + 300, "iat": now() })
}

fn verifier(iss: &str, schedule: Schedule) -> Arc<Verifier> {
    Arc::new(
        Verifier::new(IssuerConfig {
            issuer: iss.to_string(),
            audience: "broker".into(),
            algorithms: vec![Algorithm::RS256],
            jwks_origins: Vec::new(),
            schedule,
        })
        .unwrap(),
    )
}

fn with_kid(key: &RsaKey, kid: &str, iss: &str) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    key.sign_with(h, &claims(iss))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_key_ids_cost_one_fetch_per_interval_however_many_arrive_together() {
    let dir = tempfile::tempdir().unwrap();
    let key = RsaKey::generate(dir.path(), "k1");
    let issuer = issuer(&key).await;
    let schedule = Schedule {
        max_age: Duration::from_secs(300),
        between_fetches: Duration::from_millis(800),
        retry_without_keys: Duration::from_millis(100),
    };
    // Signing is slow in a debug build: every token is made before the clock matters.
    let good = key.sign(&claims(&issuer.url));
    let rounds: Vec<Vec<String>> = (0..2)
        .map(|round| {
            (0..40)
                .map(|i| with_kid(&key, &format!("made-up-{round}-{i}"), &issuer.url))
                .collect()
        })
        .collect();
    let v = verifier(&issuer.url, schedule);
    v.verify(&good).await.unwrap();
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);

    let flood = |round: usize| {
        let v = v.clone();
        let tokens = rounds[round].clone();
        async move {
            let tasks: Vec<_> = tokens
                .into_iter()
                .map(|t| {
                    let v = v.clone();
                    tokio::spawn(async move { v.verify(&t).await })
                })
                .collect();
            for t in tasks {
                assert!(matches!(t.await.unwrap(), Err(OidcError::UnknownKey(_))));
            }
        }
    };
    // Within the interval: no fetch at all.
    flood(0).await;
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    // Once a fetch is due, forty concurrent unknown kids make exactly one.
    tokio::time::sleep(Duration::from_millis(900)).await;
    flood(1).await;
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
    // And the known key still verifies throughout.
    assert!(v.verify(&good).await.is_ok());
    assert_eq!(v.key_fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_issuer_does_not_hold_up_tokens_whose_key_we_have() {
    let dir = tempfile::tempdir().unwrap();
    let key = RsaKey::generate(dir.path(), "k1");
    let issuer = issuer(&key).await;
    let schedule = Schedule {
        max_age: Duration::from_millis(200),
        between_fetches: Duration::from_millis(200),
        retry_without_keys: Duration::from_millis(100),
    };
    let v = verifier(&issuer.url, schedule);
    let good = key.sign(&claims(&issuer.url));
    v.verify(&good).await.unwrap();
    issuer.hang.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The keys are old and the issuer hangs: a token of a known key is still answered at once,
    // while one refresh waits in the background.
    let started = Instant::now();
    for _ in 0..20 {
        v.verify(&good).await.unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        issuer.fetches.load(Ordering::SeqCst),
        2,
        "one background refresh, not one per request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_the_issuer_is_asked_again_only_after_a_pause() {
    let dir = tempfile::tempdir().unwrap();
    let key = RsaKey::generate(dir.path(), "k1");
    // No issuer listens here.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let iss = format!("http://127.0.0.1:{port}");
    let v = verifier(
        &iss,
        Schedule {
            retry_without_keys: Duration::from_secs(60),
            ..Schedule::default()
        },
    );
    let token = key.sign(&claims(&iss));
    for _ in 0..5 {
        let err = v.verify(&token).await.unwrap_err();
        assert!(
            !err.is_refusal(),
            "{err}: the issuer's fault, not the token's"
        );
    }
    assert_eq!(v.key_fetches(), 1);
    // A token of another issuer never causes a fetch.
    let foreign = key.sign(&claims("https://elsewhere.example"));
    assert!(matches!(
        v.verify(&foreign).await,
        Err(OidcError::Issuer { .. })
    ));
    assert_eq!(v.key_fetches(), 1);
}
