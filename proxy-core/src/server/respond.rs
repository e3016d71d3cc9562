//! Response bodies and Kubernetes `Status` error responses.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

use crate::status::Status;

/// A boxed error for response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every request the proxy handles: hyper's own body when kubewitness serves the
/// connection, the embedder's when it is mounted as a [`ProxyService`](super::ProxyService).
pub type RequestBody = http_body_util::combinators::BoxBody<Bytes, BodyError>;

/// Why a request body could not be read (the client's connection failed, or the embedder's
/// body type reported an error).
#[derive(Debug)]
pub struct BodyError(pub(super) BoxError);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The body of every response kubewitness sends.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// `body`, holding `guard` until the body is dropped (a stream slot, the connection's
/// in-flight mark); its size and end are the body's own, so a `Content-Length` stays.
pub(crate) fn holding<G: Send + Unpin + 'static>(body: ResponseBody, guard: G) -> ResponseBody {
    Holding {
        body,
        _guard: guard,
    }
    .boxed_unsync()
}

struct Holding<G> {
    body: ResponseBody,
    _guard: G,
}

impl<G: Unpin> hyper::body::Body for Holding<G> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A body with `bytes` in it.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub(crate) fn empty() -> ResponseBody {
    full(Bytes::new())
}

/// A `Status` JSON error response that kubectl prints.
pub(crate) fn status(
    code: StatusCode,
    reason: &str,
    message: impl Into<String>,
) -> Response<ResponseBody> {
    let body = Status::http(code, reason, message).to_json();
    let mut res = Response::new(full(body));
    *res.status_mut() = code;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    res
}

/// 401 for a caller without valid credentials.
pub(crate) fn unauthorized(why: &str) -> Response<ResponseBody> {
    status(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        format!("kubewitness: unauthorized: {why}"),
    )
}

/// 403 with the reason.
pub(crate) fn forbidden(message: impl Into<String>) -> Response<ResponseBody> {
    status(StatusCode::FORBIDDEN, "Forbidden", message)
}

/// 400 with the reason.
pub(crate) fn bad_request(message: impl Into<String>) -> Response<ResponseBody> {
    status(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// 502 when upstream answered in a way kubewitness cannot relay.
pub(crate) fn bad_gateway(message: impl Into<String>) -> Response<ResponseBody> {
    status(StatusCode::BAD_GATEWAY, "InternalError", message)
}

/// 503 when the API server cannot be reached at all.
pub(crate) fn unreachable(why: &str) -> Response<ResponseBody> {
    status(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        format!("kubewitness: the API server is unreachable: {why}"),
    )
}

/// The answer to a forwarded request that got no response.
pub(crate) fn upstream_failed(err: &crate::upstream::ForwardError) -> Response<ResponseBody> {
    match err {
        crate::upstream::ForwardError::Unreachable(why) => unreachable(why),
        crate::upstream::ForwardError::Request(e) => bad_gateway(format!("kubewitness: {e}")),
    }
}

/// The answer to a stream upstream would not open: its own refusal (a `Status`, usually)
/// as is, or a 502 naming `what` could not be opened.
pub(crate) fn open_failed(err: crate::upstream::OpenError, what: &str) -> Response<ResponseBody> {
    match err {
        crate::upstream::OpenError::Refused {
            status,
            content_type,
            body,
        } => {
            let mut res = Response::new(full(body));
            *res.status_mut() = status;
            if let Some(ct) = content_type {
                res.headers_mut().insert(http::header::CONTENT_TYPE, ct);
            }
            res
        }
        crate::upstream::OpenError::Unreachable(why) => unreachable(&why),
        crate::upstream::OpenError::Failed(why) => bad_gateway(format!(
            "kubewitness: could not open the {what} upstream: {why}"
        )),
    }
}
