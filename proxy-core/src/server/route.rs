//! Every request: authenticate, classify, decide, dispatch.
//!
//! The order matters: nothing reaches upstream before the caller is authenticated and the
//! request is classified and allowed by the policy ([`crate::access`]). exec and attach
//! parameters are parsed here, before the decision, because the argv and stream flags are
//! part of it. A denial is a 403 `Status` whose message kubectl prints; a rate or stream
//! limit is a 429 with `Retry-After`. exec and attach go to [`super::exec`], logs to
//! [`super::logs`] (with the clamped query), port-forward (any method) to
//! [`super::portforward`], the rest is forwarded with its body streamed back. Paths under
//! `/prometheus/` are the metrics gateway ([`crate::prometheus`]), after authentication and
//! before the Kubernetes classifier.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tracing::{debug, info, warn};

use super::respond::{self, ResponseBody};
use super::{Conn, Proxy, exec, logs, portforward};
use crate::access::{Verdict, retry_after_secs};
use crate::auth::{AuthError, Identity};
use crate::request::{RequestInfo, StreamRequest};

/// The largest request body forwarded (kube-apiserver's own limit is 3 MiB).
pub(crate) const MAX_REQUEST_BODY: usize = 3 * 1024 * 1024;

pub(super) async fn handle(
    req: Request<Incoming>,
    proxy: Arc<Proxy>,
    conn: Conn,
) -> Result<Response<ResponseBody>, Infallible> {
    let identity = match proxy
        .auth
        .authenticate(req.headers(), conn.cert.as_ref())
        .await
    {
        Ok(id) => id,
        Err(err) => {
            if let AuthError::Unavailable(why) = &err {
                warn!(%why, "token review failed");
            }
            debug!(method = %req.method(), path = req.uri().path(), "unauthenticated");
            return Ok(respond::unauthorized(&err.to_string()));
        }
    };
    let path = req.uri().path().to_string();
    if crate::prometheus::http::is_gateway_path(&path) {
        return Ok(prometheus(req, &identity, &proxy, &conn).await);
    }
    let query = req.uri().query().unwrap_or("").to_string();
    let info = match RequestInfo::classify(req.method(), &path, &query) {
        Ok(info) => info,
        Err(why) => {
            info!(user = %identity.user, method = %req.method(), %path, %why, "refused");
            let why = why.to_string();
            proxy.access.refused(&identity, req.method(), &path, &why);
            return Ok(respond::bad_request(format!(
                "kubewitness: request refused: {why}"
            )));
        }
    };
    let streaming = info
        .resource()
        .is_some_and(|r| r.is_core("pods", Some("exec")) || r.is_core("pods", Some("attach")));
    let stream = if streaming {
        match StreamRequest::parse(&info, &query) {
            Ok(s) => Some(s),
            Err(why) => {
                let why = why.to_string();
                proxy.access.refused(&identity, req.method(), &path, &why);
                return Ok(respond::bad_request(format!("kubewitness: {why}")));
            }
        }
    } else {
        None
    };
    let client = proxy.upstream.client().clone();
    let grant = match proxy
        .access
        .decide(&client, &identity, &info, stream.as_ref(), &query)
        .await
    {
        Verdict::Allow(grant) => grant,
        Verdict::Deny(message) => {
            info!(user = %identity.user, verb = %info.verb, %path, "denied");
            return Ok(respond::forbidden(message));
        }
        Verdict::Limited(limited) => {
            info!(user = %identity.user, verb = %info.verb, %path, reason = %limited, "rate limited");
            let mut res = respond::status(
                http::StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                format!("kubewitness: {limited}"),
            );
            res.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(retry_after_secs(limited.retry_after)),
            );
            return Ok(res);
        }
    };
    debug!(user = %identity.user, verb = %info.verb, %path, rule = ?grant.rule, "allowed");
    let res = match (stream, info.resource()) {
        (Some(stream), _) => exec::handle(req, stream, identity, proxy, conn, grant).await,
        (None, Some(r)) if r.is_core("pods", Some("log")) => {
            logs::handle(req, &info, identity, proxy, conn, grant).await
        }
        // Every method: nothing about port-forward is ever relayed unrecorded.
        (None, Some(r)) if r.is_core("pods", Some("portforward")) => {
            portforward::handle(req, &info, identity, proxy, conn, grant).await
        }
        _ => forward(req, &identity, &proxy).await,
    };
    Ok(res)
}

/// Forwards an ordinary request and streams the response back.
async fn forward(
    req: Request<Incoming>,
    identity: &Identity,
    proxy: &Proxy,
) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let body: Bytes = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return respond::status(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                format!("kubewitness: request body: {e}"),
            );
        }
    };
    match proxy.upstream.forward(&parts, body, identity).await {
        Ok(res) => res.map(|b| b.map_err(|e| Box::new(e) as super::BoxError).boxed_unsync()),
        Err(e) => respond::bad_gateway(format!("kubewitness: {e}")),
    }
}

/// The Prometheus gateway (`/prometheus/…`): its own checks, audit and recording.
async fn prometheus(
    req: Request<Incoming>,
    identity: &Identity,
    proxy: &Proxy,
    conn: &Conn,
) -> Response<ResponseBody> {
    let ctx = crate::prometheus::http::Context {
        gateway: proxy.prometheus.as_ref(),
        policy: proxy.policy(),
        recorder: proxy.recorder(),
        redactor: proxy.redactor(),
        audit: proxy.access.audit(),
        remote: conn.remote,
    };
    crate::prometheus::http::serve(req, identity, ctx)
        .await
        .map(respond::full)
}
