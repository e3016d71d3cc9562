//! Where a request came from, told to the API server in headers kubewitness sets itself.

use std::net::IpAddr;

use http::{HeaderMap, HeaderValue};

/// The client as kubewitness saw it, and kubewitness's id for the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The address kubewitness accepted the client's connection from (`X-Forwarded-For`).
    pub client: IpAddr,
    /// kubewitness's id for this request (`Audit-ID`): a fresh ULID, never the caller's.
    pub audit_id: String,
}

impl Origin {
    /// An origin for a request from `client`, with a new audit id.
    pub fn new(client: IpAddr) -> Origin {
        Origin {
            client,
            audit_id: ulid::Ulid::generate().to_string(),
        }
    }

    /// Sets `X-Forwarded-For` and `Audit-ID`, replacing whatever is there.
    pub fn apply(&self, headers: &mut HeaderMap) {
        // An IP address and a ULID are always valid header values.
        if let Ok(v) = HeaderValue::from_str(&self.client.to_string()) {
            headers.insert("x-forwarded-for", v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.audit_id) {
            headers.insert("audit-id", v);
        }
    }
}
