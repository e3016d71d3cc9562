//! Response bodies and Kubernetes `Status` error responses.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

use crate::status::Status;

/// A boxed error for response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response kubewitness sends.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

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

/// 502 when upstream cannot be reached.
pub(crate) fn bad_gateway(message: impl Into<String>) -> Response<ResponseBody> {
    status(StatusCode::BAD_GATEWAY, "InternalError", message)
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
        crate::upstream::OpenError::Failed(why) => bad_gateway(format!(
            "kubewitness: could not open the {what} upstream: {why}"
        )),
    }
}
