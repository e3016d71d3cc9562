//! One Kubernetes request on behalf of a tool call: classified and decided exactly like a
//! kubectl request (`RequestInfo::classify`, `Access::decide`: policy, labels, rate limits,
//! the audit line), then sent upstream as the caller.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use serde_json::Value;

use super::Caller;
use crate::access::{Grant, Verdict, retry_after_secs};
use crate::request::{RequestInfo, StreamRequest};
use crate::server::Proxy;

/// The largest upstream JSON body read for one request (a list of 500 objects fits).
pub(crate) const MAX_UPSTREAM_BODY: usize = 8 * 1024 * 1024;

/// Why a request did not go ahead: the text for the model and the decision for the record.
#[derive(Debug)]
pub(crate) struct Refused {
    /// What was refused and why, for the model.
    pub(crate) text: String,
    /// `denied`, `rateLimited`, `invalid` or `upstreamError`.
    pub(crate) decision: &'static str,
}

impl Refused {
    pub(crate) fn new(decision: &'static str, text: impl Into<String>) -> Refused {
        Refused {
            text: text.into(),
            decision,
        }
    }
}

/// Classifies and decides `method path?query` (with exec parameters in `stream`).
pub(crate) async fn decide(
    proxy: &Proxy,
    caller: &Caller,
    method: &http::Method,
    path: &str,
    query: &str,
) -> Result<(Grant, Option<StreamRequest>), Refused> {
    let info = RequestInfo::classify(method, path, query)
        .map_err(|why| Refused::new("invalid", format!("kubewitness: request refused: {why}")))?;
    let exec = info
        .resource()
        .is_some_and(|r| r.is_core("pods", Some("exec")));
    let stream = if exec {
        Some(
            StreamRequest::parse(&info, query)
                .map_err(|why| Refused::new("invalid", format!("kubewitness: {why}")))?,
        )
    } else {
        None
    };
    let client = proxy.upstream().client().clone();
    match proxy
        .access()
        .decide(&client, &caller.identity, &info, stream.as_ref(), query)
        .await
    {
        Verdict::Allow(grant) => Ok((grant, stream)),
        Verdict::Deny(message) => Err(Refused::new("denied", message)),
        Verdict::Invalid(why) => Err(Refused::new("invalid", format!("kubewitness: {why}"))),
        Verdict::Limited(limited) => Err(Refused::new(
            "rateLimited",
            format!(
                "kubewitness: rate limited: {limited}. Retry after {} s.",
                retry_after_secs(limited.retry_after)
            ),
        )),
    }
}

/// A GET request for `path?query` as sent upstream.
pub(crate) fn get_parts(path: &str, query: &str) -> Result<http::request::Parts, Refused> {
    let uri = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let req = http::Request::get(uri)
        .header(http::header::ACCEPT, "application/json")
        .body(())
        .map_err(|e| Refused::new("invalid", format!("kubewitness: {e}")))?;
    Ok(req.into_parts().0)
}

/// Decides and GETs `path?query`, returning upstream's JSON and the rule that allowed it.
pub(crate) async fn get_json(
    proxy: &Proxy,
    caller: &Caller,
    path: &str,
    query: &str,
) -> Result<(Value, Option<String>), Refused> {
    let (grant, _) = decide(proxy, caller, &http::Method::GET, path, query).await?;
    let parts = get_parts(path, query)?;
    let res = proxy
        .upstream()
        .forward(&parts, Bytes::new(), &caller.identity, &caller.origin())
        .await
        .map_err(|e| Refused::new("upstreamError", format!("kubewitness: {e}")))?;
    let status = res.status();
    let body = Limited::new(res.into_body(), MAX_UPSTREAM_BODY)
        .collect()
        .await
        .map_err(|e| Refused::new("upstreamError", format!("kubewitness: upstream body: {e}")))?
        .to_bytes();
    if !status.is_success() {
        return Err(Refused::new("upstreamError", upstream_error(status, &body)));
    }
    let value = serde_json::from_slice(&body)
        .map_err(|e| Refused::new("upstreamError", format!("kubewitness: upstream JSON: {e}")))?;
    Ok((value, grant.rule))
}

/// The message of an upstream error `Status`, or its HTTP status.
pub(crate) fn upstream_error(status: http::StatusCode, body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(String::from));
    match message {
        Some(m) => format!("the API server answered {status}: {m}"),
        None => format!("the API server answered {status}"),
    }
}
