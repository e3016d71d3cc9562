//! Every request: authenticate, classify, decide, dispatch.
//!
//! The order matters: nothing reaches upstream before the caller is authenticated and the
//! request is classified and allowed. exec and attach go to [`super::exec`], logs to
//! [`super::logs`], the rest (discovery, pod reads) is forwarded with its body streamed back.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tracing::{debug, info, warn};

use super::respond::{self, ResponseBody};
use super::{Conn, Proxy, exec, logs};
use crate::access::{self, Decision};
use crate::auth::{AuthError, Identity};
use crate::request::RequestInfo;

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
    let query = req.uri().query().unwrap_or("").to_string();
    let info = match RequestInfo::classify(req.method(), &path, &query) {
        Ok(info) => info,
        Err(why) => {
            info!(user = %identity.user, method = %req.method(), %path, %why, "refused");
            return Ok(respond::bad_request(format!(
                "kubewitness: request refused: {why}"
            )));
        }
    };
    if let Decision::Deny(why) = access::builtin(&info) {
        info!(user = %identity.user, verb = %info.verb, %path, %why, "denied");
        return Ok(respond::forbidden(format!("kubewitness: {why}")));
    }
    debug!(user = %identity.user, verb = %info.verb, %path, "allowed");
    let res = match info.resource() {
        Some(r) if r.is_core("pods", Some("exec")) || r.is_core("pods", Some("attach")) => {
            exec::handle(req, &info, identity, proxy, conn).await
        }
        Some(r) if r.is_core("pods", Some("log")) => {
            logs::handle(req, &info, identity, proxy, conn).await
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
