//! The Portal's stylesheet and its one script, compiled into the binary: nothing is fetched
//! from elsewhere, and the Content-Security-Policy allows nothing else.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/portal.css");
const LIVE: &str = include_str!("assets/live.js");

/// Assets change only with the binary: a browser may keep them for a few minutes.
const CACHE: &str = "public, max-age=300";

pub(crate) async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        CSS,
    )
        .into_response()
}

pub(crate) async fn live() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        LIVE,
    )
        .into_response()
}
