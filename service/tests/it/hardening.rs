//! The service under hostile or failing conditions: credentials are checked before a body is
//! read, every error has the one JSON form, slow clients are cut off, and readiness tells a
//! locked store and an unreachable manifest remote from a healthy service.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cd_service::Config;
use cd_service::config::EngineKind;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::ServiceExt as _;

use crate::robust::app;

async fn call(router: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        content_type,
        "application/json",
        "{status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn big_body() -> Vec<u8> {
    // Larger than the default limit of 1 MiB.
    vec![b'x'; 10 * 1024 * 1024]
}

#[tokio::test]
async fn an_unsigned_oversized_report_is_401_before_its_size_is_looked_at() {
    let app = app();
    let (status, body) = call(
        &app.router,
        Request::post("/v1/deployments/d-1/status")
            .header("content-type", "application/json")
            .body(Body::from(big_body()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "unauthorized");

    // A malformed signature is no credential either: refused before the body is read.
    let (status, body) = call(
        &app.router,
        Request::post("/v1/deployments/d-1/status")
            .header("content-type", "application/json")
            .header("x-infrastream-signature", "sha256=nothex")
            .body(Body::from(big_body()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // A well-formed one covers the body, so the body is read: too large is 413, as JSON.
    let (status, body) = call(
        &app.router,
        Request::post("/v1/deployments/d-1/status")
            .header("content-type", "application/json")
            .header(
                "x-infrastream-signature",
                format!("sha256={}", "0".repeat(64)),
            )
            .body(Body::from(big_body()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "too_large");
}

#[tokio::test]
async fn a_person_is_authenticated_before_the_body_is_read() {
    let app = app();
    let (status, body) = call(
        &app.router,
        Request::post("/v1/releases")
            .header("content-type", "application/json")
            .body(Body::from(big_body()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = call(
        &app.router,
        Request::post("/v1/releases")
            .header("content-type", "application/json")
            .header("x-infrastream-actor", "jane")
            .body(Body::from(big_body()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_the_json_error_form() {
    let app = app();
    let (status, body) = call(
        &app.router,
        Request::get("/v1/nothing").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "unknown");

    let response = app
        .router
        .clone()
        .oneshot(Request::patch("/v1/releases").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "POST");
    let (status, body) = call(
        &app.router,
        Request::patch("/v1/releases").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"], "method_not_allowed");
}

#[tokio::test]
async fn a_hold_without_its_body_is_refused_and_nothing_is_held() {
    let app = app();
    let (status, body) = call(
        &app.router,
        Request::put("/v1/holds/production")
            .header("x-infrastream-actor", "jane")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let (status, body) = call(
        &app.router,
        Request::put("/v1/holds/production")
            .header("x-infrastream-actor", "jane")
            .header("content-type", "application/json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(app.driver.holds().await.unwrap().is_empty());
    // An environment the tenant does not have is unknown (422), not a malformed request.
    let (status, body) = call(
        &app.router,
        Request::put("/v1/holds/nowhere")
            .header("x-infrastream-actor", "jane")
            .header("content-type", "application/json")
            .body(Body::from(json!({ "reason": "freeze" }).to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn integers_written_as_doubles_are_integers() {
    let app = app();
    // JSON Schema counts 1.0 as the integer 1, and clients writing doubles send it so.
    let (status, body) = call(
        &app.router,
        Request::post("/v1/deployments/d-none/approvals")
            .header("x-infrastream-actor", "jane")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"stageIndex": 1.0, "action": "APPROVE"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = call(
        &app.router,
        Request::post("/v1/deployments/d-none/approvals")
            .header("x-infrastream-actor", "jane")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"stageIndex": 1.5, "action": "APPROVE"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "stageIndex");
}

/// The whole service on embedded defaults, listening on a free port, with `http` limits.
async fn serve(dir: &Path, http: cd_service::config::HttpConfig) -> SocketAddr {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        http,
        ..Config::default()
    };
    config.engine.kind = EngineKind::Webhook;
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
    tokio::spawn(async move {
        cd_service::serve(
            &config,
            opened,
            |a| {
                let _ = addr_tx.send(a);
            },
            std::future::pending(),
        )
        .await
        .unwrap();
    });
    tokio::time::timeout(Duration::from_secs(30), addr_rx)
        .await
        .unwrap()
        .unwrap()
}

async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

#[tokio::test]
async fn readiness_names_a_locked_store_and_liveness_does_not_care() {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve(dir.path(), cd_service::config::HttpConfig::default()).await;
    let (status, report) = get(addr, "/readyz").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "ok");
    assert_eq!(check(&report, "store")["ok"], true);

    // Another process holds the database's write lock.
    let db = rusqlite::Connection::open(dir.path().join("state.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let (status, report) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "{report}");
    assert_eq!(report["status"], "failing");
    assert_eq!(check(&report, "store")["ok"], false);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "readiness waited {:?} for the lock",
        started.elapsed()
    );
    let (status, report) = get(addr, "/healthz").await;
    assert_eq!(
        status, 200,
        "a locked store is not a reason to restart: {report}"
    );
    assert!(
        check(&report, "worker")["detail"]
            .as_str()
            .unwrap()
            .contains("backlog")
    );

    db.execute_batch("ROLLBACK").unwrap();
    let (status, report) = get(addr, "/readyz").await;
    assert_eq!(status, 200, "{report}");
}

#[tokio::test]
async fn readiness_names_an_unreachable_manifest_remote() {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve(dir.path(), cd_service::config::HttpConfig::default()).await;
    let remote = dir.path().join("manifests.git");
    let moved = dir.path().join("moved.git");
    std::fs::rename(&remote, &moved).unwrap();
    let (status, report) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "{report}");
    assert_eq!(check(&report, "manifests")["ok"], false);
    assert_eq!(check(&report, "store")["ok"], true);
    std::fs::rename(&moved, &remote).unwrap();
    let (status, report) = get(addr, "/readyz").await;
    assert_eq!(status, 200, "{report}");
}

#[tokio::test]
async fn the_configured_timeouts_close_slow_and_idle_connections() {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve(
        dir.path(),
        cd_service::config::HttpConfig {
            header_timeout_ms: 300,
            body_timeout_ms: 300,
            ..cd_service::config::HttpConfig::default()
        },
    )
    .await;
    let closed_within = |mut stream: tokio::net::TcpStream| async move {
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
            .await
            .map(|_| String::from_utf8_lossy(&buf).into_owned())
    };
    let idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_within(idle).await.is_ok(),
        "an idle connection stayed open"
    );
    let mut half_header = tokio::net::TcpStream::connect(addr).await.unwrap();
    half_header
        .write_all(b"POST /v1/releases HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(closed_within(half_header).await.is_ok());
    let mut half_body = tokio::net::TcpStream::connect(addr).await.unwrap();
    half_body
        .write_all(
            b"POST /v1/releases HTTP/1.1\r\nHost: x\r\nx-infrastream-actor: jane\r\ncontent-type: application/json\r\nContent-Length: 100\r\n\r\n{\"appl",
        )
        .await
        .unwrap();
    let answer = closed_within(half_body).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"timeout\""), "{answer}");
}
