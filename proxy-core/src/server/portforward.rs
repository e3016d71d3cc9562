//! `pods/portforward`: terminate kubectl's connection, re-originate upstream, and run each
//! forwarded TCP connection as its own recorded session.
//!
//! Like exec, the upstream connection is opened *before* the client gets its 101, so an
//! upstream refusal (pod not found, RBAC) reaches kubectl as an HTTP error it prints. Then
//! every pair kubectl opens ([`crate::portforward::serve`]) gets its own upstream pair
//! ([`crate::portforward::Tunnel::open`], same port, same request id) and its own pipeline
//! from [`super::session::pipeline`]: recorded (fail closed, like exec), never redacted (the
//! policy only allows port-forward under `redact: false`, and this handler refuses a grant
//! that would redact). The request holds its grant's permit until the connection ends.
//! When kubectl goes away, every pair's pipeline cancels its upstream pair and the upstream
//! connection closes once the last one is done; when upstream goes away, the pairs fail
//! (kubectl prints the error) and the client connection is torn down.

use std::sync::Arc;

use crate::server::RequestBody;
use http::{Request, Response};
use tracing::{Instrument, debug, info, info_span};

use super::respond::{self, ResponseBody};
use super::session::{self, SessionInfo, SessionKind};
use super::upgrade::upgrade;
use super::{Conn, Proxy, SessionGuard};
use crate::access::Grant;
use crate::auth::Identity;
use crate::channel::{Channel, Frame, Msg, StreamOptions};
use crate::portforward::{self, Forwarded, Tunnel};
use crate::request::RequestInfo;
use crate::status::Status;
use crate::upstream::Origin;

pub(super) async fn handle(
    mut req: Request<RequestBody>,
    info: &RequestInfo,
    identity: Identity,
    proxy: Arc<Proxy>,
    conn: Conn,
    grant: Grant,
) -> Response<ResponseBody> {
    let (namespace, pod) = match info.resource() {
        Some(r) => (
            r.namespace.clone().unwrap_or_default(),
            r.name.clone().unwrap_or_default(),
        ),
        None => (String::new(), String::new()),
    };
    if namespace.is_empty() || pod.is_empty() {
        return respond::bad_request("kubewitness: port-forward needs a namespaced pod");
    }
    if !grant.limits.unredacted {
        // The policy never allows this; refuse rather than relay bytes it meant to mask.
        return respond::forbidden(
            "kubewitness: port-forward bytes cannot be redacted, and the rule that allowed this request redacts",
        );
    }
    let accepted = match portforward::accept(req.headers()) {
        Ok(a) => a,
        Err(refused) => return respond::status(refused.status, refused.reason, refused.message),
    };
    let origin = Origin::new(conn.remote.ip());
    let tunnel = match proxy
        .upstream
        .open_portforward(&namespace, &pod, &identity, &origin)
        .await
    {
        Ok(t) => t,
        Err(e) => return respond::open_failed(e, "port-forward connection"),
    };
    let span = info_span!(
        "portforward",
        user = %identity.user,
        ns = %namespace,
        pod = %pod,
        remote = %conn.remote,
        client = accepted.transport.name(),
        audit_id = %origin.audit_id,
    );
    let base = SessionInfo {
        kind: SessionKind::PortForward,
        identity,
        namespace,
        pod,
        container: None,
        command: Vec::new(),
        options: StreamOptions {
            stdin: true,
            stdout: true,
            stderr: false,
            tty: false,
        },
        client_transport: accepted.transport.name(),
        upstream_transport: "spdy",
        remote: conn.remote,
        limits: grant.limits.clone(),
        port: None,
        audit_id: origin.audit_id.clone(),
    };
    let transport = accepted.transport;
    // The session task owns `proxy`; the guard takes its own reference.
    let guarded = Arc::clone(&proxy);
    upgrade(
        &mut req,
        &guarded,
        grant.permit,
        accepted.headers,
        span,
        move |io| async move {
            info!("port-forward started");
            let client = transport.serve(io).await;
            run(proxy, base, tunnel, client).await;
            info!("port-forward ended");
        },
    )
}

/// Runs every pair of the client connection until either side's connection ends.
async fn run(
    proxy: Arc<Proxy>,
    base: SessionInfo,
    tunnel: Tunnel,
    client: portforward::Connection,
) {
    let portforward::Connection {
        mut pairs,
        shutdown,
        done: client_done,
    } = client;
    let tunnel = Arc::new(tunnel);
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            forwarded = pairs.recv() => {
                let Some(forwarded) = forwarded else { break };
                let info = SessionInfo {
                    port: Some(forwarded.port),
                    ..base.clone()
                };
                let task = pair(proxy.clone(), info, tunnel.clone(), forwarded);
                sessions.spawn(task.in_current_span());
            }
            // Reap finished pairs as they go: a long port-forward may see many connections.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            _ = tunnel.closed() => {
                debug!("upstream port-forward connection ended");
                break;
            }
        }
    }
    // Upstream gone, or kubectl's connection ended: let the running pairs finish (they end
    // at once, each with its status), then the other side goes too.
    drop(pairs);
    drop(tunnel);
    while sessions.join_next().await.is_some() {}
    drop(shutdown);
    if let Ok(Err(e)) = client_done.await {
        debug!(error = %e, "client port-forward connection failed");
    }
}

/// One forwarded connection: its upstream pair, then its session.
async fn pair(proxy: Arc<Proxy>, info: SessionInfo, tunnel: Arc<Tunnel>, forwarded: Forwarded) {
    let Forwarded {
        port,
        request_id,
        peer: client,
    } = forwarded;
    let _guard = SessionGuard::new(&proxy);
    let server = match tunnel.open(port, &request_id).await {
        Ok(peer) => peer,
        Err(e) => {
            info!(port, error = %e, "upstream pair failed");
            let status = Status::failure(
                "InternalError",
                format!("kubewitness: could not forward port {port} upstream: {e}"),
            );
            let _ = client
                .outgoing
                .send(Msg::Data(Frame::new(Channel::Error, status.to_json())))
                .await;
            return;
        }
    };
    drop(tunnel);
    let pipeline = session::pipeline(&proxy, &info);
    info!(port, "forwarded connection started");
    let end = pipeline.run(client, server).await;
    info!(port, reason = ?end.reason, success = end.status.is_success(), "forwarded connection ended");
}
