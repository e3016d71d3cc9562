//! Request bodies: refused where a request has no use for one, read within a size and a time
//! limit where it has, and drained (a little) before an early answer.
//!
//! Draining matters over HTTP/2: answering a stream whose body is still arriving makes hyper
//! reset it, and some clients (curl 7.88) then report a framing error instead of the
//! `Status` they were sent. Up to [`DRAIN_MAX`] bytes within [`DRAIN_TIMEOUT`] are read and
//! dropped; a larger or slower body is left to the reset.

use std::time::Duration;

use super::respond::RequestBody;
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body as _;

use super::limits::ListenerLimits;
use super::respond::{self, ResponseBody};

/// The most of a body read and dropped before an early answer.
pub(super) const DRAIN_MAX: usize = 64 * 1024;
/// How long draining may take.
pub(super) const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// A refusal for a request that carries a body its method gives no meaning to.
pub(super) fn refuse_unexpected(
    method: &Method,
    body: &RequestBody,
) -> Option<Response<ResponseBody>> {
    let bodiless = *method == Method::GET || *method == Method::HEAD;
    (bodiless && !body.is_end_stream()).then(|| {
        respond::bad_request(format!(
            "kubewitness: request refused: a {method} request must not have a body"
        ))
    })
}

/// Reads a whole body within the listener's size and time limits; over either, the
/// `Status` to answer with.
pub(super) async fn read(
    body: RequestBody,
    limits: &ListenerLimits,
) -> Result<Bytes, Response<ResponseBody>> {
    let limited = Limited::new(body, limits.max_body_bytes).collect();
    match tokio::time::timeout(limits.body_read_timeout, limited).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) => Err(respond::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("kubewitness: request body: {e}"),
        )),
        Err(_) => Err(respond::status(
            StatusCode::REQUEST_TIMEOUT,
            "Timeout",
            format!(
                "kubewitness: the request body did not arrive within {}s",
                limits.body_read_timeout.as_secs()
            ),
        )),
    }
}

/// Reads and drops up to [`DRAIN_MAX`] bytes of `body` within [`DRAIN_TIMEOUT`].
pub(super) async fn drain(mut body: RequestBody) {
    if body.is_end_stream() {
        return;
    }
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let mut seen = 0;
        while seen <= DRAIN_MAX {
            match body.frame().await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
    })
    .await;
}
