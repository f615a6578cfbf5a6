//! The listener against real sockets: clients that stall in the header, in the body or before
//! sending anything are cut off at their timeout, the connection limit holds, oversized
//! bodies are refused unread, and a stop lets the request in flight finish.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::{get, post};
use cd_http::{Limits, read_body, serve};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

fn app(limits: Limits) -> Router {
    Router::new()
        .route(
            "/echo",
            post(move |body: Body| async move {
                match read_body(body, &limits).await {
                    Ok(bytes) => (StatusCode::OK, format!("{} bytes", bytes.len())),
                    Err(e) => (e.status(), e.to_string()),
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                "done"
            }),
        )
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(limits: Limits) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(serve(listener, app(limits), limits, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        served,
    }
}

fn quick() -> Limits {
    Limits {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        max_body_bytes: 1024,
        max_connections: 16,
    }
}

/// Reads until the server closes the connection or `within` passes; the bytes read, and
/// whether the server closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        let mut buf = [0u8; 4096];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
            Ok(Ok(0) | Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_header_timeout() {
    let server = start(quick()).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(closed, "an idle connection stayed open for 5 s");
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn half_a_header_is_cut_off_at_the_header_timeout() {
    let server = start(quick()).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(
        closed,
        "a connection holding half a header stayed open for 5 s"
    );
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_when_idle() {
    let server = start(quick()).await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (text, closed) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        closed,
        "a kept-alive connection idle after its answer stayed open"
    );
}

#[tokio::test]
async fn half_a_body_is_answered_408_at_the_body_timeout() {
    let server = start(quick()).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let (text, _) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("did not arrive within 300 ms"), "{text}");
}

#[tokio::test]
async fn a_body_declared_too_large_is_refused_unread() {
    let server = start(quick()).await;
    let mut big = TcpStream::connect(server.addr).await.unwrap();
    // Only the head is sent: the answer must not wait for the 10 MB it announces.
    big.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_until_closed(&mut big, Duration::from_millis(250)).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

#[tokio::test]
async fn a_chunked_body_past_the_limit_is_refused() {
    let server = start(quick()).await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    // No declared length: the limit is found while reading.
    let mut request =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..8 {
        request.extend_from_slice(b"c8\r\n");
        request.extend_from_slice(&[b'x'; 200]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    conn.write_all(&request).await.unwrap();
    let (text, _) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let within = reqwest::Client::new()
        .post(format!("http://{}/echo", server.addr))
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(within.text().await.unwrap(), "1024 bytes");
}

#[tokio::test]
async fn connections_past_the_limit_wait_for_a_free_slot() {
    let server = start(Limits {
        header_timeout: Duration::from_secs(30),
        max_connections: 2,
        ..quick()
    })
    .await;
    let first = TcpStream::connect(server.addr).await.unwrap();
    let _second = TcpStream::connect(server.addr).await.unwrap();
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_until_closed(&mut third, Duration::from_millis(800)).await;
    assert_eq!(
        text, "",
        "a third connection was served past a limit of two"
    );
    drop(first);
    let (text, closed) = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed);
}

#[tokio::test]
async fn a_stop_lets_the_request_in_flight_finish() {
    let mut server = start(quick()).await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop.take().unwrap().send(()).unwrap();
    let (text, closed) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(text.contains("done"), "{text}");
    assert!(closed);
    tokio::time::timeout(Duration::from_secs(5), server.served)
        .await
        .expect("serve returned after the stop")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "still accepting after the stop"
    );
}
