//! The gateway on the main listener: `/prometheus/api/v1/…`, GET and form POST, for a
//! caller the server already authenticated. The server's router calls [`serve`] before the
//! Kubernetes classifier; everything here answers in Prometheus's JSON, errors included.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::server::RequestBody;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};

use super::audit::MetricsAudit;
use super::error::{ErrorKind, GatewayError};
use super::gateway::{Ask, Gateway, Outcome};
use super::params::{Endpoint, MAX_FORM_BODY, Params};
use crate::auth::Identity;
use crate::policy::Policy;
use crate::policy::audit::AuditSink;
use crate::record::Recorder;

/// What a gateway request needs from the server.
#[derive(Debug)]
pub struct Context<'a> {
    /// The gateway, when `prometheus:` is configured.
    pub gateway: Option<&'a Gateway>,
    /// The policy in force.
    pub policy: Arc<Policy>,
    /// Records the request, when recording is on.
    pub recorder: Option<&'a Recorder>,
    /// Masks secrets in string values, when redaction is on.
    pub redactor: Option<&'a redact::Redactor>,
    /// Where the audit line goes.
    pub audit: &'a AuditSink,
    /// The caller's address.
    pub remote: SocketAddr,
}

/// Whether the router should hand `path` to [`serve`].
pub fn is_gateway_path(path: &str) -> bool {
    path == super::params::PREFIX || path.starts_with("/prometheus/")
}

/// Answers one request.
pub async fn serve(
    req: Request<RequestBody>,
    identity: &Identity,
    ctx: Context<'_>,
) -> Response<Bytes> {
    let endpoint = match Endpoint::parse(req.uri().path()) {
        Ok(e) => e,
        Err(e) => return reply(e.status(), Bytes::from(e.to_json()), None),
    };
    let Some(gateway) = ctx.gateway else {
        let e = GatewayError::new(
            ErrorKind::NotFound,
            "kubewitness has no Prometheus backend configured (prometheus: in its configuration)",
        );
        return reply(e.status(), Bytes::from(e.to_json()), None);
    };
    let params = match read_params(req).await {
        Ok(p) => p,
        Err(e) => {
            let mut audit = MetricsAudit::new(identity, &endpoint);
            audit.decision = "deny";
            audit.reason = e.message.clone();
            ctx.audit.line(&audit);
            return reply(e.status(), Bytes::from(e.to_json()), None);
        }
    };
    let answered = answer(gateway, &ctx, identity, &endpoint, &params).await;
    reply(answered.status, answered.body, answered.retry_after)
}

/// An answer as delivered: recorded, or replaced by the refusal to deliver it.
#[derive(Debug)]
pub struct Answered {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Bytes,
    /// For a rate-limit refusal, when to retry.
    pub retry_after: Option<Duration>,
    /// The `metrics` recording's id, when recording is on.
    pub recording: Option<String>,
}

/// Answers `endpoint` with `params` for `identity` through [`Gateway::query_for`], writes
/// the audit line and records the answer; an answer that cannot be recorded is not
/// delivered. Every front end (HTTP, the MCP tool) goes through here.
pub async fn answer(
    gateway: &Gateway,
    ctx: &Context<'_>,
    identity: &Identity,
    endpoint: &Endpoint,
    params: &Params,
) -> Answered {
    let outcome = gateway
        .query_for(&Ask {
            policy: &ctx.policy,
            identity,
            endpoint,
            params,
            redactor: ctx.redactor,
        })
        .await;
    ctx.audit.line(&outcome.audit);
    deliver(outcome, identity, ctx).await
}

async fn deliver(outcome: Outcome, identity: &Identity, ctx: &Context<'_>) -> Answered {
    let mut recording = None;
    if let Some(recorder) = ctx.recorder {
        match super::record::record(
            recorder,
            identity,
            ctx.remote,
            &outcome.audit,
            &outcome.body,
        )
        .await
        {
            Ok(id) => recording = Some(id),
            Err(end) => {
                tracing::warn!(user = %identity.user, reason = %end.status().message, "metrics answer not recorded");
                let e = GatewayError::new(
                    ErrorKind::Unavailable,
                    "kubewitness could not record this answer, so it is not delivered",
                );
                return Answered {
                    status: e.status(),
                    body: Bytes::from(e.to_json()),
                    retry_after: None,
                    recording: None,
                };
            }
        }
    }
    Answered {
        status: outcome.status,
        body: outcome.body,
        retry_after: outcome.retry_after,
        recording,
    }
}

/// The parameters of the URL and, for a POST, of its form body.
async fn read_params(req: Request<RequestBody>) -> Result<Params, GatewayError> {
    let query = req.uri().query().unwrap_or("").to_string();
    let form = match *req.method() {
        Method::GET => String::new(),
        Method::POST => read_form(req).await?,
        _ => {
            return Err(GatewayError::bad_data(
                "the Prometheus API takes GET and form POST only",
            ));
        }
    };
    Params::parse(&query, &form)
}

async fn read_form(req: Request<RequestBody>) -> Result<String, GatewayError> {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(GatewayError::bad_data(
            "a POST body must be application/x-www-form-urlencoded",
        ));
    }
    let body = Limited::new(req.into_body(), MAX_FORM_BODY)
        .collect()
        .await
        .map_err(|_| {
            GatewayError::bad_data(format!("form body larger than {MAX_FORM_BODY} bytes"))
        })?
        .to_bytes();
    String::from_utf8(body.to_vec()).map_err(|_| GatewayError::bad_data("form body is not UTF-8"))
}

fn reply(status: StatusCode, body: Bytes, retry_after: Option<Duration>) -> Response<Bytes> {
    let mut res = Response::new(body);
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Some(d) = retry_after {
        res.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(crate::access::retry_after_secs(d)),
        );
    }
    res
}
