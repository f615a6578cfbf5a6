//! The HTTP listener Infrastream CD's services share.
//!
//! `axum::serve` gives a connection as long as its client wants: a client that opens a
//! connection and sends nothing, or half a header, or half a body, holds a socket and a task
//! forever, and enough of them exhaust the process. This listener bounds each of those:
//!
//! - **Header timeout.** A request's head must arrive whole within [`Limits::header_timeout`],
//!   counted from when the connection is ready for a request. That includes the wait for the
//!   next request on a kept-alive connection, so it is also the idle timeout: a connection that
//!   sends nothing is closed when it runs out.
//! - **Body timeout and size.** Handlers read bodies with [`read_body`], which stops at
//!   [`Limits::max_body_bytes`] and after [`Limits::body_timeout`]. Handlers read the body
//!   only after they have checked the credentials a header carries, so an unauthenticated
//!   caller is answered 401 without its body being read at all.
//! - **Connection limit.** At most [`Limits::max_connections`] are served at once; past that
//!   the listener stops accepting (the kernel's backlog holds the rest) until one closes.
//! - **Graceful stop.** When `shutdown` resolves, no new connection is accepted, idle ones are
//!   closed, and requests in flight finish (bounded by the timeouts above).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// What one client may take of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The time a request's head may take, and the time a connection may wait idle for one.
    pub header_timeout: Duration,
    /// The time a request's body may take to arrive, once its handler starts reading it.
    pub body_timeout: Duration,
    /// The largest request body read.
    pub max_body_bytes: usize,
    /// The most connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    /// Defaults a public deployment can live with: CI notifications, engine reports and
    /// operators' requests are small and quick; anything slower is a stuck or hostile client.
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            max_connections: 1024,
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// It is larger than the limit (declared so, or found so while reading).
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// It did not arrive in time.
    TimedOut {
        /// The limit.
        after: Duration,
    },
    /// The connection failed while it was read.
    Failed(String),
}

impl BodyError {
    /// The status to answer with: 413, 408 or 400.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
            BodyError::Failed(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit } => {
                write!(f, "the request body is larger than {limit} bytes")
            }
            BodyError::TimedOut { after } => write!(
                f,
                "the request body did not arrive within {} ms",
                after.as_millis()
            ),
            BodyError::Failed(e) => write!(f, "the request body could not be read: {e}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// Reads `body` whole, within `limits`' size and time. A body whose declared length is
/// already too large is refused without reading it.
///
/// # Errors
/// [`BodyError`] saying which limit was hit, or that the connection failed.
pub async fn read_body(body: Body, limits: &Limits) -> Result<Bytes, BodyError> {
    let limit = limits.max_body_bytes;
    let declared = http_body_util::BodyExt::boxed_unsync(body);
    if usize::try_from(hyper::body::Body::size_hint(&declared).lower()).unwrap_or(usize::MAX)
        > limit
    {
        return Err(BodyError::TooLarge { limit });
    }
    match tokio::time::timeout(limits.body_timeout, Limited::new(declared, limit).collect()).await {
        Err(_) => Err(BodyError::TimedOut {
            after: limits.body_timeout,
        }),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(BodyError::TooLarge { limit })
        }
        Ok(Err(e)) => Err(BodyError::Failed(e.to_string())),
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then stops accepting,
/// lets the requests in flight finish, and returns.
///
/// # Errors
/// None today: accept errors (a full file table, a connection reset before it was accepted)
/// are logged and the listener goes on. The `Result` keeps room for a listener that can fail.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Connections watch `stop` to begin their graceful close, and each holds a `done`
    // receiver: when the last is dropped, every connection has ended.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut saturated = false;
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset while queued: pause so a
                    // persistent error does not spin, and go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let free = slots.available_permits();
        if free == 0 && !saturated {
            saturated = true;
            tracing::warn!(
                max_connections = limits.max_connections,
                "connection limit reached; new connections wait until one closes"
            );
        } else if free > limits.max_connections / 2 {
            saturated = false;
        }
        tracing::trace!(%peer, "connection accepted");
        tokio::spawn(connection(
            stream,
            app.clone(),
            limits.header_timeout,
            stop_rx.clone(),
            done_rx.clone(),
            slot,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// Serves one connection until it closes, holding its `slot` and its `done` receiver.
async fn connection(
    stream: TcpStream,
    app: Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
    _done: watch::Receiver<()>,
    _slot: OwnedSemaphorePermit,
) {
    // Answers are small: send them without waiting to fill a segment.
    let _ = stream.set_nodelay(true);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
