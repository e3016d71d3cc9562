//! exec and attach: terminate the client's upgrade, re-originate upstream, run the pipeline.
//!
//! The upstream stream is opened *before* the client gets its 101, so an upstream refusal
//! (pod not found, RBAC) reaches the client as an ordinary HTTP error it can print, and a
//! failed upstream never leaves the client holding a stream that goes nowhere.

use std::sync::Arc;

use crate::server::RequestBody;
use http::{Request, Response};
use tracing::{info, info_span};

use super::respond::{self, ResponseBody};
use super::session::{self, SessionInfo, SessionKind};
use super::upgrade::upgrade;
use super::{Conn, Proxy};
use crate::access::Grant;
use crate::auth::Identity;
use crate::request::StreamRequest;
use crate::server::downstream;
use crate::upstream::Origin;

pub(super) async fn handle(
    mut req: Request<RequestBody>,
    stream: StreamRequest,
    identity: Identity,
    proxy: Arc<Proxy>,
    conn: Conn,
    grant: Grant,
) -> Response<ResponseBody> {
    let accepted = match downstream::accept(req.headers(), true, true) {
        Ok(a) => a,
        Err(refused) => {
            let mut res = respond::status(refused.status, "BadRequest", refused.message);
            res.headers_mut().extend(refused.headers);
            return res;
        }
    };
    let origin = Origin::new(conn.remote.ip());
    let opened = match proxy
        .upstream
        .open_stream(&stream, &identity, &origin)
        .await
    {
        Ok(o) => o,
        Err(e) => return respond::open_failed(e, &format!("{} stream", stream.subresource)),
    };

    let span = info_span!(
        "session",
        user = %identity.user,
        ns = %stream.namespace,
        pod = %stream.pod,
        kind = %stream.subresource,
        client = accepted.transport.name(),
        upstream = opened.transport,
        remote = %conn.remote,
        audit_id = %origin.audit_id,
    );
    let session = SessionInfo {
        kind: if stream.subresource == "attach" {
            SessionKind::Attach
        } else {
            SessionKind::Exec
        },
        identity,
        namespace: stream.namespace.clone(),
        pod: stream.pod.clone(),
        container: stream.container.clone(),
        command: stream.command.clone(),
        options: stream.options,
        client_transport: accepted.transport.name(),
        upstream_transport: opened.transport,
        remote: conn.remote,
        limits: grant.limits.clone(),
        port: None,
        audit_id: origin.audit_id.clone(),
    };
    let pipeline = session::pipeline(&proxy, &session);
    let transport = accepted.transport;
    upgrade(
        &mut req,
        &proxy,
        grant.permit,
        accepted.headers,
        span,
        move |io| async move {
            info!(
                argc = stream.command.len(),
                tty = stream.options.tty,
                "session started"
            );
            let client = transport.serve(io, stream.options);
            let end = pipeline.run(client, opened.peer).await;
            info!(
                reason = ?end.reason,
                status = %end.status.status,
                exit_code = end.status.exit_code_value(),
                "session ended"
            );
        },
    )
}
