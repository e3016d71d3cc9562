//! `SelfSubjectAccessReview` and `SelfSubjectRulesReview`: the simulated cluster's RBAC lets
//! every authenticated caller do everything, and says so.

use http::StatusCode;
use serde_json::{Value, json};

use super::respond::{self, Body, bad_request};

/// The reason the simulated RBAC gives.
pub(crate) const SIM_REASON: &str = "sim: every authenticated caller may do everything";

/// `POST /apis/authorization.k8s.io/v1/{kind}` with `body`.
pub(crate) fn serve(kind: &str, body: &[u8]) -> http::Response<Body> {
    let mut review: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return bad_request(format!("invalid {kind} body")),
    };
    review["status"] = if kind == "selfsubjectaccessreviews" {
        json!({"allowed": true, "reason": SIM_REASON})
    } else {
        json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*", "/api", "/api/*", "/apis", "/apis/*", "/version"]}],
            "incomplete": false,
        })
    };
    respond::json(StatusCode::CREATED, &review)
}
