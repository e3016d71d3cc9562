//! Kubernetes `metav1.Status`: the body of every error kubewitness returns, and the content
//! of a remotecommand session's error channel.
//!
//! Inside the pipeline the error channel always carries the v4 JSON form. Protocols v1–v3
//! carry plain text, written only on failure; [`Status::from_error_stream`] and
//! [`Status::to_error_stream`] translate at the edges (cri-streaming `remotecommand/status.go`,
//! client-go `remotecommand/v4.go` `errorDecoderV4`).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::channel::Protocol;

/// A `metav1.Status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// `Status` for HTTP bodies; absent on the error channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `v1` for HTTP bodies; absent on the error channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Always present (and empty) in `metav1.Status` marshalling.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// `Success` or `Failure`.
    pub status: String,
    /// Human-readable description; kubectl prints it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Machine-readable reason (`Forbidden`, `NonZeroExitCode`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Extra data, such as the exit code cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// The HTTP status code, for HTTP bodies.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub code: u16,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

/// `metav1.StatusDetails`, reduced to the fields kubewitness reads or writes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDetails {
    /// Causes; the exit code travels as `{"reason":"ExitCode","message":"3"}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Seconds a client should wait before retrying (429).
    #[serde(
        default,
        rename = "retryAfterSeconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after_seconds: Option<u32>,
}

/// `metav1.StatusCause`. In JSON the cause's type is named `reason`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCause {
    /// `ExitCode` for exit codes.
    #[serde(default, rename = "reason", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The exit code, in decimal, for `ExitCode`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Status {
    /// `{"metadata":{},"status":"Success"}`.
    pub fn success() -> Status {
        Status {
            status: "Success".into(),
            ..Status::default()
        }
    }

    /// A failure with `reason` and `message` (error-channel form, no HTTP code).
    pub fn failure(reason: &str, message: impl Into<String>) -> Status {
        Status {
            status: "Failure".into(),
            reason: reason.into(),
            message: message.into(),
            ..Status::default()
        }
    }

    /// The status the kubelet writes when the command exits with `code` ≠ 0.
    pub fn exit_code(code: u8) -> Status {
        let mut s = Status::failure(
            "NonZeroExitCode",
            format!("command terminated with non-zero exit code: exit status {code}"),
        );
        s.details = Some(StatusDetails {
            causes: vec![StatusCause {
                kind: "ExitCode".into(),
                message: code.to_string(),
            }],
            retry_after_seconds: None,
        });
        s
    }

    /// An HTTP error body: `kind: Status`, `apiVersion: v1`, `code`, `reason`, `message`.
    pub fn http(code: http::StatusCode, reason: &str, message: impl Into<String>) -> Status {
        Status {
            kind: Some("Status".into()),
            api_version: Some("v1".into()),
            code: code.as_u16(),
            ..Status::failure(reason, message)
        }
    }

    /// Whether this is a success.
    pub fn is_success(&self) -> bool {
        self.status == "Success"
    }

    /// The exit code carried by a `NonZeroExitCode` failure, parsed like client-go (as u8).
    pub fn exit_code_value(&self) -> Option<u8> {
        if self.status != "Failure" || self.reason != "NonZeroExitCode" {
            return None;
        }
        self.details
            .as_ref()?
            .causes
            .iter()
            .find(|c| c.kind == "ExitCode")
            .and_then(|c| c.message.parse().ok())
    }

    /// The JSON encoding.
    pub fn to_json(&self) -> Bytes {
        // Serialising a struct of strings and maps cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads what a server wrote on the error channel under `protocol`.
    ///
    /// v4+: a JSON status (invalid JSON becomes an `InternalError` failure carrying no
    /// payload bytes). v1–v3: empty means success, any text is a failure with that message.
    pub fn from_error_stream(protocol: Protocol, bytes: &[u8]) -> Status {
        if protocol.json_status() {
            match serde_json::from_slice::<Status>(bytes) {
                Ok(s) => s,
                Err(_) => Status::failure(
                    "InternalError",
                    format!(
                        "kubewitness: upstream sent an unreadable status ({} bytes)",
                        bytes.len()
                    ),
                ),
            }
        } else if bytes.is_empty() {
            Status::success()
        } else {
            Status::failure("InternalError", String::from_utf8_lossy(bytes).into_owned())
        }
    }

    /// What to write on the error channel for a client speaking `protocol`; `None` means
    /// write nothing (v1–v3 success).
    pub fn to_error_stream(&self, protocol: Protocol) -> Option<Bytes> {
        if protocol.json_status() {
            Some(self.to_json())
        } else if self.is_success() {
            None
        } else {
            Some(Bytes::from(self.message.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_round_trips_through_json() {
        let s = Status::exit_code(3);
        let json = s.to_json();
        let text = std::str::from_utf8(&json).unwrap();
        assert!(
            text.contains(r#""causes":[{"reason":"ExitCode","message":"3"}]"#),
            "{text}"
        );
        let back = Status::from_error_stream(Protocol::V4, &json);
        assert_eq!(back.exit_code_value(), Some(3));
    }

    #[test]
    fn reads_what_kubelet_and_apiserver_write() {
        let kubelet = Status::from_error_stream(Protocol::V4, br#"{"status":"Success"}"#);
        assert!(kubelet.is_success());
        let apiserver =
            Status::from_error_stream(Protocol::V5, br#"{"metadata":{},"status":"Success"}"#);
        assert!(apiserver.is_success());
        let garbage = Status::from_error_stream(Protocol::V4, b"{nope");
        assert!(!garbage.is_success());
        assert!(!garbage.message.contains("nope"));
    }

    #[test]
    fn plain_text_protocols() {
        assert!(Status::from_error_stream(Protocol::V2, b"").is_success());
        let f = Status::from_error_stream(Protocol::V2, b"boom");
        assert_eq!(f.message, "boom");
        assert_eq!(Status::success().to_error_stream(Protocol::V3), None);
        assert_eq!(
            Status::failure("X", "bad").to_error_stream(Protocol::V1),
            Some(Bytes::from_static(b"bad"))
        );
    }

    #[test]
    fn http_body_has_kind_and_code() {
        let s = Status::http(http::StatusCode::FORBIDDEN, "Forbidden", "no");
        let v: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["code"], 403);
        assert_eq!(v["reason"], "Forbidden");
    }
}
