//! `pods/log`: forwarded upstream as the caller, the body streamed back through the
//! pipeline (line-aware, flushed promptly in follow mode). Errors before streaming starts
//! (pod or container not found) are upstream's own `Status` responses, passed through.

use std::sync::Arc;

use crate::server::RequestBody;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use tracing::{Instrument, info, info_span};

use super::respond::{self, ResponseBody};
use super::session::{self, SessionInfo, SessionKind};
use super::{BoxError, Conn, Proxy, SessionGuard};
use crate::access::Grant;
use crate::auth::Identity;
use crate::request::RequestInfo;
use crate::server::logstream;
use crate::upstream::Origin;

pub(super) async fn handle(
    req: Request<RequestBody>,
    info: &RequestInfo,
    identity: Identity,
    proxy: Arc<Proxy>,
    conn: Conn,
    grant: Grant,
) -> Response<ResponseBody> {
    let (mut parts, _) = req.into_parts();
    // Upstream gets the query the policy clamped, never the caller's.
    let query = grant.log_query.clone().unwrap_or_default();
    let path_and_query = if query.is_empty() {
        parts.uri.path().to_string()
    } else {
        format!("{}?{query}", parts.uri.path())
    };
    parts.uri = match http::Uri::builder().path_and_query(path_and_query).build() {
        Ok(uri) => uri,
        Err(e) => return respond::bad_request(format!("kubewitness: {e}")),
    };
    let origin = Origin::new(conn.remote.ip());
    let res = match proxy
        .upstream
        .forward(&parts, Bytes::new(), &identity, &origin)
        .await
    {
        Ok(res) => res,
        Err(e) => return respond::upstream_failed(&e),
    };
    if !res.status().is_success() {
        return res.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed_unsync());
    }
    let (mut head, body) = res.into_parts();
    // Filters may change the length.
    head.headers.remove(http::header::CONTENT_LENGTH);
    let span = info_span!(
        "logs",
        user = %identity.user,
        path = parts.uri.path(),
        audit_id = %origin.audit_id
    );
    let r = info.resource();
    let container = crate::channel::url_pairs(parts.uri.query().unwrap_or(""))
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v);
    let session = SessionInfo {
        kind: SessionKind::Logs,
        identity,
        namespace: r.and_then(|r| r.namespace.clone()).unwrap_or_default(),
        pod: r.and_then(|r| r.name.clone()).unwrap_or_default(),
        container,
        command: Vec::new(),
        options: crate::channel::StreamOptions {
            stdout: true,
            ..Default::default()
        },
        client_transport: "http",
        upstream_transport: "http",
        remote: conn.remote,
        // A log stream runs under the rule's `logs` duration and idle limits.
        limits: Arc::new(crate::policy::Limits {
            session: grant.limits.logs.session(),
            ..(*grant.limits).clone()
        }),
        port: None,
        audit_id: origin.audit_id.clone(),
    };
    let pipeline = session::pipeline(&proxy, &session);
    let server = logstream::source(body);
    let (client, out) = logstream::sink();
    let guard = SessionGuard::new(&proxy);
    tokio::spawn(
        async move {
            let _guard = guard;
            let _permit = grant.permit;
            let end = pipeline.run(client, server).await;
            info!(reason = ?end.reason, status = %end.status.status, "log stream ended");
        }
        .instrument(span),
    );
    Response::from_parts(head, out)
}
