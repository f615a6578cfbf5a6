//! Anything from outside gets an answer, never a panic or a 500: random methods, paths,
//! credentials and bodies (random bytes and mutations of valid bodies) against every route.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cd_ports::{Driver, RetryPolicy};
use cd_service::Config;
use cd_service::config::EngineKind;
use cd_service::local::RandomIds;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt as _;

pub(crate) struct App {
    /// The data directory (its `registry` is the embedded image layout).
    pub(crate) dir: tempfile::TempDir,
    pub(crate) router: axum::Router,
    pub(crate) secret: Vec<u8>,
    pub(crate) driver: Arc<Driver>,
    _queue: tokio::sync::mpsc::UnboundedReceiver<cd_service::Wake>,
}

/// The service's router on embedded defaults in a temporary directory (the engine a webhook).
pub(crate) fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.engine.kind = EngineKind::Webhook;
    let opened = cd_service::local::open(
        &config,
        &cd_service::tenant::example_files(),
        &BTreeMap::new(),
        cd_service::local::Overrides::default(),
    )
    .unwrap();
    let driver = Arc::new(Driver::new(
        opened.ports,
        config.settings(),
        RetryPolicy::default(),
        Box::new(RandomIds),
    ));
    let (shared, queue) =
        cd_service::Shared::new(&config, driver.clone(), opened.secret.clone()).unwrap();
    App {
        driver,
        dir,
        router: cd_service::api::router(shared),
        secret: opened.secret,
        _queue: queue,
    }
}

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/notifications/build"),
    ("POST", "/v1/notifications/pubsub"),
    ("POST", "/v1/deployments/ID/status"),
    ("POST", "/v1/deployments/ID/approvals"),
    ("POST", "/v1/deployments/ID/retry"),
    ("POST", "/v1/releases"),
    ("POST", "/v1/rollbacks"),
    ("PUT", "/v1/holds/ID"),
    ("DELETE", "/v1/holds/ID"),
    ("GET", "/v1/deployments?status=ID&limit=ID"),
    ("GET", "/v1/deployments?after=ID"),
    ("GET", "/v1/deployments/ID"),
    ("GET", "/v1/holds"),
    // Not /healthz: it takes no input, and here no worker runs, so it rightly answers 503
    // (see hardening.rs for health against the whole service).
    ("GET", "/openapi.json"),
];

fn valid_bodies() -> Vec<Value> {
    vec![
        json!({ "buildDefinitionId": "shop-api", "container": "shop-api", "version": "v1.0.0" }),
        // The data is a BuildNotified, base64: {"buildDefinitionId":"shop-api",...}.
        json!({ "message": { "data": "eyJidWlsZERlZmluaXRpb25JZCI6InNob3AtYXBpIiwiY29udGFpbmVyIjoic2hvcC1hcGkiLCJ2ZXJzaW9uIjoidjEuMC4wIn0=", "messageId": "1" } }),
        json!({ "deployment": "d-1", "stageIndex": 0, "status": "SUCCESS", "commitSha": "abc" }),
        json!({ "stageIndex": 1, "action": "APPROVE", "comment": "" }),
        json!({ "applicationSet": "shop", "bundle": "2026.11", "versions": { "shop-api": "v1.0.0" } }),
        json!({ "application": "shop-api", "environment": "production", "version": "v1.0.0" }),
        json!({ "reason": "freeze" }),
    ]
}

/// A valid body with one value replaced by something random.
fn mutate(body: &Value, key_pick: usize, replacement: &Value) -> Value {
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        let keys: Vec<String> = map.keys().cloned().collect();
        if let Some(k) = keys.get(key_pick % keys.len().max(1)) {
            map.insert(k.clone(), replacement.clone());
        }
    }
    body
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum BodyKind {
    Bytes(Vec<u8>),
    Mutated(usize, usize, Value),
    Valid(usize),
}

fn body_kind() -> impl Strategy<Value = BodyKind> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256).prop_map(BodyKind::Bytes),
        (any::<usize>(), any::<usize>(), any_json())
            .prop_map(|(b, k, v)| BodyKind::Mutated(b, k, v)),
        any::<usize>().prop_map(BodyKind::Valid),
    ]
}

#[derive(Debug, Clone)]
enum Credential {
    None,
    GoodSignature,
    BadSignature(String),
    Actor(String),
    Bearer(String),
}

fn credential() -> impl Strategy<Value = Credential> {
    prop_oneof![
        Just(Credential::None),
        Just(Credential::GoodSignature),
        "[ -~]{0,80}".prop_map(Credential::BadSignature),
        prop_oneof![
            Just("jane".to_string()),
            Just("sam".to_string()),
            "[ -~]{0,30}"
        ]
        .prop_map(Credential::Actor),
        "[ -~]{0,200}".prop_map(Credential::Bearer),
    ]
}

#[test]
fn every_route_answers_without_panic_or_server_error() {
    // One service for every case: refused requests change nothing, accepted ones only add.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = app();
    let strategy = (
        0..ROUTES.len(),
        prop_oneof![Just("d-1".to_string()), "[a-zA-Z0-9%._~-]{0,24}"],
        body_kind(),
        credential(),
    );
    proptest!(ProptestConfig { cases: 1024, ..ProptestConfig::default() }, |((route, id, body, cred) in strategy)| {
        let (method, path) = ROUTES[route];
        let path = path.replace("ID", &id);
        let bytes = match &body {
            BodyKind::Bytes(b) => b.clone(),
            BodyKind::Mutated(b, k, v) => {
                let bodies = valid_bodies();
                mutate(&bodies[b % bodies.len()], *k, v).to_string().into_bytes()
            }
            BodyKind::Valid(b) => {
                let bodies = valid_bodies();
                bodies[b % bodies.len()].to_string().into_bytes()
            }
        };
        let mut req = Request::builder().method(method).uri(&path).header("content-type", "application/json");
        match &cred {
            Credential::None => {}
            Credential::GoodSignature => {
                req = req.header("x-infrastream-signature", cd_service::auth::sign(&app.secret, &bytes));
            }
            Credential::BadSignature(s) => req = req.header("x-infrastream-signature", s.as_str()),
            Credential::Actor(a) => req = req.header("x-infrastream-actor", a.as_str()),
            Credential::Bearer(t) => req = req.header("authorization", format!("Bearer {t}")),
        }
        let Ok(req) = req.body(Body::from(bytes)) else {
            return Ok(()); // Not a valid HTTP request (a header value the client cannot send).
        };
        let status = rt.block_on(app.router.clone().oneshot(req)).unwrap().status();
        prop_assert!(!status.is_server_error(), "{method} {path} {cred:?}: {status}");
        // Mutations never get past authentication without a credential.
        let mutating = method != "GET" && !path.starts_with("/v1/notifications/");
        if mutating && matches!(cred, Credential::None | Credential::BadSignature(_) | Credential::Bearer(_)) {
            prop_assert!(
                status == StatusCode::UNAUTHORIZED || status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} {cred:?}: {status}"
            );
        }
    });
}

#[test]
fn the_config_reader_never_panics_on_random_text() {
    proptest!(ProptestConfig { cases: 2000, ..ProptestConfig::default() }, |(text in "(?s).{0,300}")| {
        let _ = Config::from_toml("cd.toml", &text);
    });
}
