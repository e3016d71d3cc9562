//! Response bodies and the few response shapes every handler uses: JSON objects, `Status`
//! errors and streamed bodies fed from a channel (logs, watches).

use std::io;

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use serde_json::Value;
use tokio::sync::mpsc;

use proxy_core::status::Status;

/// The body type of every response of the simulated server.
pub(crate) type Body = UnsyncBoxBody<Bytes, io::Error>;

/// A complete body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body that streams whatever arrives on `rx`, one DATA frame (or HTTP/1.1 chunk) per
/// message, and ends when every sender is dropped.
pub(crate) fn streamed(rx: mpsc::Receiver<Bytes>) -> Body {
    let frames = stream::unfold(rx, |mut rx| async move {
        let bytes = rx.recv().await?;
        Some((Ok(Frame::data(bytes)), rx))
    });
    StreamBody::new(frames).boxed_unsync()
}

/// A response with `body` and `content_type`.
pub(crate) fn with_type(
    code: StatusCode,
    content_type: &'static str,
    body: Body,
) -> Response<Body> {
    let mut resp = Response::new(body);
    *resp.status_mut() = code;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A JSON object with `Content-Type: application/json`.
pub(crate) fn json(code: StatusCode, value: &Value) -> Response<Body> {
    // Serialising a `Value` cannot fail.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    with_type(code, "application/json", full(bytes))
}

/// A `Status` error body with its HTTP code.
pub(crate) fn status(code: StatusCode, reason: &str, message: impl Into<String>) -> Response<Body> {
    status_of(&Status::http(code, reason, message))
}

/// The response for a `Status` that already carries its HTTP code.
pub(crate) fn status_of(s: &Status) -> Response<Body> {
    let code = StatusCode::from_u16(s.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    with_type(code, "application/json", full(s.to_json()))
}

/// `400 BadRequest`.
pub(crate) fn bad_request(message: impl Into<String>) -> Response<Body> {
    status(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// `404 NotFound` for `resource` `name`, worded like the API server.
pub(crate) fn not_found(resource: &str, name: &str) -> Response<Body> {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{resource} \"{name}\" not found"),
    )
}

/// The first value of `key` in a raw query string, percent-decoded.
pub(crate) fn param(query: &str, key: &str) -> Option<String> {
    proxy_core::channel::url_pairs(query)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// A boolean query parameter with the API server's rule: missing is false, only `0` and
/// `false` (any case) are false.
pub(crate) fn flag(query: &str, key: &str) -> bool {
    param(query, key).is_some_and(|v| !(v == "0" || v.eq_ignore_ascii_case("false")))
}

/// An integer query parameter; `Err` carries the 400 message.
pub(crate) fn int(query: &str, key: &str) -> Result<Option<i64>, String> {
    match param(query, key) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{key}: Invalid value: \"{v}\": must be an integer")),
    }
}

/// The refusal for a streaming subresource (exec, attach, port-forward) asked with a method
/// other than the upgradeable GET and POST, as the API server answers it.
pub(crate) fn unless_upgradeable(method: &Method) -> Option<Response<Body>> {
    (*method != Method::GET && *method != Method::POST).then(|| {
        status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    })
}
