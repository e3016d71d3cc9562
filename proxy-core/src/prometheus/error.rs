//! Gateway errors, answered in Prometheus's own error shape
//! (`{"status":"error","errorType":"bad_data","error":"…"}`) so Grafana, `promtool` and
//! client libraries show the message as they would show Prometheus's.

use std::time::Duration;

use http::StatusCode;

/// What went wrong, which fixes the HTTP status and the `errorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Unparsable or malformed parameters or PromQL: 400 `bad_data`.
    BadData,
    /// A policy limit refuses the query: 422 `execution` (as Mimir and Thanos answer limits).
    Limit,
    /// No rule grants metrics to the caller, or the query names a namespace outside the
    /// grant: 403 `forbidden`.
    Forbidden,
    /// Over `queriesPerMinute`: 429 `too_many_requests`, with `Retry-After`.
    RateLimited(Duration),
    /// The backend timed out: 503 `timeout`.
    Timeout,
    /// The backend is unreachable or answered nonsense: 503 `unavailable`.
    Unavailable,
    /// No such endpoint: 404 `bad_data`.
    NotFound,
}

/// A refusal or failure, with the message the caller sees.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GatewayError {
    /// What kind.
    pub kind: ErrorKind,
    /// The message, naming the limit when a limit refused.
    pub message: String,
}

impl GatewayError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> GatewayError {
        GatewayError {
            kind,
            message: message.into(),
        }
    }

    /// 400 `bad_data`.
    pub fn bad_data(message: impl Into<String>) -> GatewayError {
        GatewayError::new(ErrorKind::BadData, message)
    }

    /// 422 naming the limit.
    pub fn limit(message: impl Into<String>) -> GatewayError {
        GatewayError::new(ErrorKind::Limit, message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::BadData => StatusCode::BAD_REQUEST,
            ErrorKind::Limit => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Timeout | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
        }
    }

    /// The `errorType` field.
    pub fn error_type(&self) -> &'static str {
        match self.kind {
            ErrorKind::BadData | ErrorKind::NotFound => "bad_data",
            ErrorKind::Limit => "execution",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::RateLimited(_) => "too_many_requests",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "unavailable",
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "status": "error",
            "errorType": self.error_type(),
            "error": self.message,
        }))
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_prometheus_error_json() {
        let e = GatewayError::bad_data("1:5: parse error: unexpected end of input");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["status"], "error");
        assert_eq!(v["errorType"], "bad_data");
        assert_eq!(v["error"], "1:5: parse error: unexpected end of input");
        let l = GatewayError::limit("maxSeries");
        assert_eq!((l.status().as_u16(), l.error_type()), (422, "execution"));
        let r = GatewayError::new(ErrorKind::RateLimited(Duration::from_secs(2)), "x");
        assert_eq!(r.status().as_u16(), 429);
    }
}
