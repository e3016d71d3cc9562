//! kubewitness's own API for access requests, under `/kubewitness/` on the main listener.
//!
//! Reached after authentication, like `/mcp` and `/prometheus/`, and before the Kubernetes
//! classifier. The broker ([`crate::grants::Grants`]) decides and audits every step; what
//! this module refuses itself (an unknown path, a wrong method, a malformed or oversized
//! body, a caller over the API's rate) it audits as a refusal. Every answer is JSON; every
//! error a Kubernetes `Status`, which the CLI prints.
//!
//! | method | path                                        | body                    |
//! |--------|---------------------------------------------|-------------------------|
//! | POST   | `/kubewitness/v1/accessrequests`            | `NewRequest` → 201      |
//! | GET    | `/kubewitness/v1/accessrequests`            | → `{"items": [...]}`    |
//! | GET    | `/kubewitness/v1/accessrequests/{id}`       | → the request           |
//! | POST   | `…/{id}/approve`, `…/{id}/deny`             | `{"reason": "…"}`       |
//! | POST   | `…/{id}/revoke`                             | `{"reason": "…"}` or none |
//! | POST   | `…/{id}/execute`                            | `{"write": …}` or none → the API server's answer |
//!
//! Without a recorder there is no broker: every call answers 503.

use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::respond::{self};
use super::{Conn, Proxy, body};
use crate::auth::Identity;
use crate::bodies::{RequestBody, ResponseBody};
use crate::grants::{AccessRequest, GrantError, Grants, NewRequest, Via};
use crate::policy::{RateLimit, WriteAction};
use crate::upstream::Origin;

/// Every path of the API starts with this.
pub(super) const PREFIX: &str = "/kubewitness/";
/// The access-request collection.
const COLLECTION: &str = "/kubewitness/v1/accessrequests";
/// The largest request body read.
pub(crate) const MAX_API_BODY: usize = 64 * 1024;
/// The longest id accepted in a path (a ULID has 26 characters).
const MAX_ID_LEN: usize = 64;
/// Calls per second per user (the bucket the rate limiter keeps under [`RATE_BUCKET`]).
pub(crate) const API_RATE: RateLimit = RateLimit {
    requests_per_second: Some(5.0),
    burst: 20,
    max_concurrent_streams: None,
};
/// The limiter's bucket name for API calls (not a rule name a policy can have).
const RATE_BUCKET: &str = "kubewitness:access-api";

/// Whether `path` belongs to this API.
pub(super) fn is_api_path(path: &str) -> bool {
    path.starts_with(PREFIX) || path == PREFIX.trim_end_matches('/')
}

/// What a path and method ask for.
#[derive(Debug, PartialEq, Eq)]
enum Op {
    Create,
    List,
    Get(String),
    Approve(String),
    Deny(String),
    Revoke(String),
    Execute(String),
}

/// Why a path and method ask for nothing.
#[derive(Debug, PartialEq, Eq)]
enum Unrouted {
    /// 404.
    NotFound,
    /// 405 with the methods the path takes.
    Method(&'static str),
}

/// The operation `method path` names.
fn route(method: &Method, path: &str) -> Result<Op, Unrouted> {
    let rest = path.strip_prefix(COLLECTION).ok_or(Unrouted::NotFound)?;
    let only = |m: Method, allow: &'static str, op: Op| match *method == m {
        true => Ok(op),
        false => Err(Unrouted::Method(allow)),
    };
    if rest.is_empty() {
        return match *method {
            Method::GET => Ok(Op::List),
            Method::POST => Ok(Op::Create),
            _ => Err(Unrouted::Method("GET, POST")),
        };
    }
    let rest = rest.strip_prefix('/').ok_or(Unrouted::NotFound)?;
    let (id, verb) = match rest.split_once('/') {
        Some((id, verb)) => (id, Some(verb)),
        None => (rest, None),
    };
    let valid =
        !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !valid {
        return Err(Unrouted::NotFound);
    }
    let id = id.to_string();
    match verb {
        None => only(Method::GET, "GET", Op::Get(id)),
        Some("approve") => only(Method::POST, "POST", Op::Approve(id)),
        Some("deny") => only(Method::POST, "POST", Op::Deny(id)),
        Some("revoke") => only(Method::POST, "POST", Op::Revoke(id)),
        Some("execute") => only(Method::POST, "POST", Op::Execute(id)),
        Some(_) => Err(Unrouted::NotFound),
    }
}

/// `approve` and `deny`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ReviewBody {
    reason: String,
}

/// `revoke` (the reason is optional).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RevokeBody {
    reason: Option<String>,
}

/// `execute`: the write the caller means, checked against the approved one.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ExecuteBody {
    write: Option<WriteAction>,
}

/// `{"items": [...]}`.
#[derive(serde::Serialize)]
struct List<'a> {
    items: &'a [AccessRequest],
}

/// Answers one call of the API for `identity`.
pub(super) async fn serve(
    req: Request<RequestBody>,
    identity: Identity,
    proxy: &Proxy,
    conn: &Conn,
) -> Response<ResponseBody> {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let refuse = |res: Response<ResponseBody>, why: &str| {
        proxy.access.refused(&identity, &method, &path, why);
        res
    };
    let op = match route(&method, &path) {
        Ok(op) => op,
        Err(Unrouted::NotFound) => {
            body::drain(req.into_body()).await;
            let res = respond::status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("kubewitness: no such API path: {path}"),
            );
            return refuse(res, "no such API path");
        }
        Err(Unrouted::Method(allow)) => {
            body::drain(req.into_body()).await;
            let mut res = respond::status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("kubewitness: {method} is not allowed on {path} (allowed: {allow})"),
            );
            res.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allow));
            return refuse(res, "method not allowed");
        }
    };
    if let Err(limited) =
        proxy
            .access
            .pay_api(&identity.user, RATE_BUCKET, API_RATE, Instant::now())
    {
        body::drain(req.into_body()).await;
        let mut res = respond::status(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            format!("kubewitness: {limited}"),
        );
        res.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(crate::access::retry_after_secs(limited.retry_after)),
        );
        return refuse(res, "access API rate limit");
    }
    let Some(grants) = proxy.grants.as_deref() else {
        body::drain(req.into_body()).await;
        let res = respond::status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "kubewitness: access requests need a recording store (recording: in the configuration)",
        );
        return refuse(res, "access requests need a recording store");
    };
    if let Some(res) = body::refuse_unexpected(&method, req.body()) {
        body::drain(req.into_body()).await;
        return refuse(res, "a body on a GET request");
    }
    let mut limits = conn.limits;
    limits.max_body_bytes = limits.max_body_bytes.min(MAX_API_BODY);
    let bytes = match body::read(req.into_body(), &limits).await {
        Ok(b) => b,
        Err(res) => return refuse(res, "request body too large or too slow"),
    };
    let origin = Origin::new(conn.remote.ip());
    let via = Via {
        upstream: &proxy.upstream,
        origin: &origin,
    };
    match call(grants, via, &identity, op, &bytes).await {
        Ok(res) => res,
        Err(Refusal::Body(why)) => refuse(
            respond::bad_request(format!("kubewitness: invalid request body: {why}")),
            &format!("invalid request body: {why}"),
        ),
        Err(Refusal::Grant(err)) => grant_error(&err),
    }
}

/// Why a call did not go through.
enum Refusal {
    /// The body is not what the operation takes (refused here, audited as such).
    Body(String),
    /// The broker refused (it audited the step).
    Grant(GrantError),
}

impl From<GrantError> for Refusal {
    fn from(e: GrantError) -> Refusal {
        Refusal::Grant(e)
    }
}

/// Runs `op` on the broker.
async fn call(
    grants: &Grants,
    via: Via<'_>,
    who: &Identity,
    op: Op,
    bytes: &Bytes,
) -> Result<Response<ResponseBody>, Refusal> {
    let res = match op {
        Op::Create => {
            let new: NewRequest = parse(bytes, false)?;
            json(StatusCode::CREATED, &grants.request(via, who, new).await?)
        }
        Op::List => json(
            StatusCode::OK,
            &List {
                items: &grants.list(who).await?,
            },
        ),
        Op::Get(id) => json(StatusCode::OK, &grants.get(who, &id).await?),
        Op::Approve(id) => {
            let body: ReviewBody = parse(bytes, false)?;
            json(
                StatusCode::OK,
                &grants.approve(who, &id, &body.reason).await?,
            )
        }
        Op::Deny(id) => {
            let body: ReviewBody = parse(bytes, true)?;
            json(StatusCode::OK, &grants.deny(who, &id, &body.reason).await?)
        }
        Op::Revoke(id) => {
            let body: RevokeBody = parse(bytes, true)?;
            let reason = body.reason.unwrap_or_default();
            json(StatusCode::OK, &grants.revoke(who, &id, &reason).await?)
        }
        Op::Execute(id) => {
            let body: ExecuteBody = parse(bytes, true)?;
            let done = grants.execute(via, who, &id, body.write.as_ref()).await?;
            executed(done.code, done.content_type.as_deref(), done.body)
        }
    };
    Ok(res)
}

/// Parses a JSON body (unknown fields refused); an empty body is `{}` when `empty_ok`.
fn parse<T: DeserializeOwned>(bytes: &[u8], empty_ok: bool) -> Result<T, Refusal> {
    let text: &[u8] = match bytes.iter().all(u8::is_ascii_whitespace) {
        true if empty_ok => b"{}",
        true => return Err(Refusal::Body("a JSON object is required".into())),
        false => bytes,
    };
    serde_json::from_slice(text).map_err(|e| Refusal::Body(e.to_string()))
}

/// A JSON answer.
fn json<T: serde::Serialize>(code: StatusCode, value: &T) -> Response<ResponseBody> {
    match serde_json::to_vec(value) {
        Ok(body) => with_type(code, Some("application/json"), body.into()),
        Err(e) => respond::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("kubewitness: {e}"),
        ),
    }
}

/// The API server's own answer to an executed write, passed through.
pub(super) fn executed(
    code: StatusCode,
    content_type: Option<&str>,
    body: Bytes,
) -> Response<ResponseBody> {
    with_type(code, content_type, body)
}

fn with_type(code: StatusCode, content_type: Option<&str>, body: Bytes) -> Response<ResponseBody> {
    let mut res = Response::new(respond::full(body));
    *res.status_mut() = code;
    if let Some(ct) = content_type.and_then(|c| header::HeaderValue::from_str(c).ok()) {
        res.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    res
}

/// A broker refusal as a `Status`.
pub(super) fn grant_error(err: &GrantError) -> Response<ResponseBody> {
    respond::status(err.status(), err.reason(), format!("kubewitness: {err}"))
}

/// What the proxy's grants are, for handlers outside this module.
impl Proxy {
    /// The access-request broker, when recording is on.
    pub fn grants(&self) -> Option<&std::sync::Arc<Grants>> {
        self.grants.as_ref()
    }

    /// The group requests made under an access grant carry upstream.
    pub fn breakglass_group(&self) -> &str {
        &self.breakglass
    }
}

#[cfg(test)]
#[path = "access_api_tests.rs"]
mod tests;
