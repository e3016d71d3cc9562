//! The built-in access rule: deny by default, allow only what `kubectl exec`, `attach` and
//! `logs` need.
//!
//! Allowed: discovery (`/api`, `/apis`, group and version documents, `/version`,
//! `/openapi/*`) and reads of pods (`get`, `list`, `watch`), plus `pods/exec`, `pods/attach`
//! and `pods/log`. Everything else — writes, secrets, configmaps, port-forward, proxy
//! subresources, unknown paths — is denied with a reason the client sees. A policy file,
//! when configured, decides instead.

use crate::request::{RequestInfo, Target};

/// The outcome of an access check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Let it through.
    Allow,
    /// Refuse it; the reason is shown to the caller.
    Deny(String),
}

/// Discovery documents kubectl reads before anything else.
fn is_discovery(path: &str) -> bool {
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(
        seg.as_slice(),
        ["api"] | ["api", _] | ["apis"] | ["apis", _] | ["apis", _, _] | ["version"]
    ) || path == "/openapi/v2"
        || path.starts_with("/openapi/v3")
}

/// The built-in rule.
pub fn builtin(info: &RequestInfo) -> Decision {
    match &info.target {
        Target::NonResource(path) => {
            if (info.verb == "get" || info.verb == "head") && is_discovery(path) {
                Decision::Allow
            } else {
                Decision::Deny(format!("{} {path} is not allowed", info.verb))
            }
        }
        Target::Resource(r) => {
            let what = match &r.subresource {
                Some(sub) => format!("{}/{sub}", r.resource),
                None => r.resource.clone(),
            };
            let allowed = match (
                r.group.as_str(),
                r.resource.as_str(),
                r.subresource.as_deref(),
            ) {
                ("", "pods", None) => matches!(info.verb.as_str(), "get" | "list" | "watch"),
                ("", "pods", Some("exec" | "attach")) => {
                    matches!(info.verb.as_str(), "get" | "create")
                }
                ("", "pods", Some("log")) => info.verb == "get",
                _ => false,
            };
            if allowed {
                Decision::Allow
            } else {
                let scope = r
                    .namespace
                    .as_deref()
                    .map(|ns| format!(" in namespace {ns}"))
                    .unwrap_or_default();
                Decision::Deny(format!("{} of {what}{scope} is not allowed", info.verb))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;

    fn decide(method: Method, url: &str) -> Decision {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        builtin(&RequestInfo::classify(&method, path, query).unwrap())
    }

    #[test]
    fn reads_needed_by_exec_and_logs_are_allowed() {
        for (m, url) in [
            (Method::GET, "/api"),
            (Method::GET, "/apis"),
            (Method::GET, "/api/v1"),
            (Method::GET, "/apis/apps/v1"),
            (Method::GET, "/version"),
            (Method::GET, "/api/v1/namespaces/shop/pods/api-7"),
            (
                Method::GET,
                "/api/v1/namespaces/shop/pods?labelSelector=app%3Dapi",
            ),
            (
                Method::POST,
                "/api/v1/namespaces/shop/pods/api-7/exec?command=ls",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/shop/pods/api-7/exec?command=ls",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/shop/pods/api-7/attach?stdout=1",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/shop/pods/api-7/log?follow=true",
            ),
        ] {
            assert_eq!(decide(m.clone(), url), Decision::Allow, "{m} {url}");
        }
    }

    #[test]
    fn everything_else_is_denied() {
        for (m, url) in [
            (Method::DELETE, "/api/v1/namespaces/shop/pods/api-7"),
            (Method::POST, "/api/v1/namespaces/shop/pods"),
            (Method::GET, "/api/v1/namespaces/shop/secrets"),
            (Method::GET, "/api/v1/namespaces/shop/configmaps/x"),
            (
                Method::POST,
                "/api/v1/namespaces/shop/pods/api-7/portforward",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/shop/pods/api-7/portforward",
            ),
            (Method::GET, "/api/v1/namespaces/shop/pods/api-7/proxy"),
            (Method::GET, "/api/v1/namespaces/shop/services/web/proxy"),
            (Method::GET, "/api/v1/nodes/n1/proxy"),
            (Method::PATCH, "/api/v1/namespaces/shop/pods/api-7"),
            (Method::POST, "/api/v1/namespaces/shop/pods/api-7/log"),
            (
                Method::POST,
                "/api/v1/namespaces/shop/pods/api-7/ephemeralcontainers",
            ),
            (Method::GET, "/metrics"),
            (Method::GET, "/logs/kube-apiserver.log"),
            (Method::POST, "/api"),
        ] {
            assert!(
                matches!(decide(m.clone(), url), Decision::Deny(_)),
                "{m} {url}"
            );
        }
    }
}
