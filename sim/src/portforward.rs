//! `pods/portforward` over SPDY/3.1 (`portforward.k8s.io`), like a kubelet.
//!
//! Each pair kubectl (or kubewitness) opens is connected to the TCP address
//! [`SimConfig::port_forwards`](super::SimConfig::port_forwards) maps `(pod, port)` to. An
//! unmapped port or a refused connection gets a kubelet-like message on the pair's error
//! stream and the pair is closed. Otherwise bytes are relayed both ways: a FIN from the
//! client shuts the target's write half, the target's EOF becomes a FIN on the data stream,
//! and once both directions are done the pair ends (empty error stream: success).
//!
//! WebSocket upgrades are refused (400), like an SPDY-only cluster.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::respond::{self, Body};
use super::router::unauthorized;
use super::server::State;
use proxy_core::channel::{Channel, Frame, Msg};
use proxy_core::peer::{DriverQueues, MAX_FRAME_LEN, Peer, PeerError};
use proxy_core::portforward::{self, Forwarded};
use proxy_core::status::Status;

/// Serves `POST .../pods/{name}/portforward`.
pub(crate) async fn serve(
    state: &Arc<State>,
    mut req: Request<Incoming>,
    header_ok: bool,
    namespace: &str,
    name: &str,
) -> Response<Body> {
    if !header_ok {
        return unauthorized();
    }
    if let Some(refused) = respond::unless_upgradeable(req.method()) {
        return refused;
    }
    if !state
        .cfg
        .pods
        .iter()
        .any(|p| p.namespace == namespace && p.name == name)
    {
        return respond::not_found("pods", name);
    }
    if proxy_core::websocket::handshake::is_upgrade(req.headers()) {
        return respond::bad_request("kubewitness sim: port-forward is served over SPDY only");
    }
    if !state.cfg.spdy {
        return respond::bad_request("kubewitness sim: SPDY upgrades are disabled");
    }
    let headers = match portforward::accept(req.headers()) {
        Ok(a) => a.headers,
        Err(refused) => {
            return respond::status(
                refused.status,
                refused.reason,
                format!("unable to upgrade connection: {}", refused.message),
            );
        }
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let owner = state.clone();
    let pod = format!("{namespace}/{name}");
    let task = tokio::spawn(async move {
        let io = match on_upgrade.await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::debug!(error = %e, "sim: upgrade failed");
                return;
            }
        };
        let mut conn = portforward::serve(io);
        let mut pairs = tokio::task::JoinSet::new();
        while let Some(fwd) = conn.pairs.recv().await {
            let target = owner.cfg.port_forward_target(&pod, fwd.port);
            pairs.spawn(forward(pod.clone(), fwd, target));
        }
        pairs.shutdown().await;
    });
    state.own(task.abort_handle());
    let mut resp = Response::new(respond::full(bytes::Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *resp.headers_mut() = headers;
    resp
}

/// Connects one pair to its target and relays it.
async fn forward(pod: String, fwd: Forwarded, target: Option<SocketAddr>) {
    let Forwarded { port, peer, .. } = fwd;
    let connected = match target {
        Some(addr) => TcpStream::connect(addr).await.map_err(|e| e.to_string()),
        None => Err("connection refused".to_owned()),
    };
    match connected {
        Ok(stream) => {
            let end = proxy_core::pipeline::splice(peer, tcp_peer(stream)).await;
            tracing::debug!(port, reason = ?end.reason, "sim: forwarded connection ended");
        }
        Err(why) => {
            let message = format!(
                "error forwarding port {port} to pod {pod}, uid : failed to connect to localhost:{port} inside namespace: {why}"
            );
            let status = Status::failure("InternalError", message);
            let _ = peer
                .outgoing
                .send(Msg::Data(Frame::new(Channel::Error, status.to_json())))
                .await;
        }
    }
}

/// A TCP connection as a server-side [`Peer`]: `Stdin` is written to it, what it sends
/// arrives as `Stdout`; once both directions are done a success status ends it.
fn tcp_peer(stream: TcpStream) -> Peer {
    let (queues, driver) = Peer::channel();
    let done = tokio::spawn(async move {
        let DriverQueues {
            to_pipeline,
            mut from_pipeline,
        } = driver;
        let (mut rd, mut wr) = stream.into_split();
        let to_target = async {
            while let Some(msg) = from_pipeline.recv().await {
                match msg {
                    Msg::Data(f) if f.channel == Channel::Stdin => {
                        wr.write_all(&f.bytes).await.map_err(PeerError::io)?
                    }
                    Msg::Close(Channel::Stdin) => {
                        wr.shutdown().await.map_err(PeerError::io)?;
                        return Ok(true);
                    }
                    _ => {}
                }
            }
            // Every sender dropped: the session was cancelled.
            Ok::<bool, PeerError>(false)
        };
        let to_client = async {
            let mut buf = BytesMut::new();
            loop {
                buf.reserve(MAX_FRAME_LEN);
                let n = rd.read_buf(&mut buf).await.map_err(PeerError::io)?;
                if n == 0 {
                    break;
                }
                let frame = Frame::new(Channel::Stdout, buf.split().freeze());
                if to_pipeline.send(Msg::Data(frame)).await.is_err() {
                    return Ok(());
                }
            }
            let _ = to_pipeline.send(Msg::Close(Channel::Stdout)).await;
            Ok::<(), PeerError>(())
        };
        let failed = {
            let mut to_target = std::pin::pin!(to_target);
            let mut to_client = std::pin::pin!(to_client);
            let (mut wrote, mut read) = (None, None);
            while wrote.is_none() || read.is_none() {
                tokio::select! {
                    r = &mut to_target, if wrote.is_none() => match r {
                        Ok(true) => wrote = Some(Ok(())),
                        // Cancelled: nobody is listening any more.
                        Ok(false) => return Ok(()),
                        Err(e) => wrote = Some(Err(e)),
                    },
                    r = &mut to_client, if read.is_none() => read = Some(r),
                }
            }
            match (wrote, read) {
                (Some(Err(e)), _) | (_, Some(Err(e))) => Some(e.to_string()),
                _ => None,
            }
        };
        let status = match failed {
            None => Status::success(),
            Some(why) => Status::failure("InternalError", format!("error forwarding: {why}")),
        };
        let _ = to_pipeline
            .send(Msg::Data(Frame::new(Channel::Error, status.to_json())))
            .await;
        Ok(())
    });
    queues.with_driver(done)
}

/// Starts a TCP echo server on loopback, a port-forward target for tests and benches (map it
/// with [`super::SimConfig::port_forwards`]); returns its address. Each connection echoes
/// until the client closes its side.
pub async fn echo_server() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut rd, mut wr) = sock.split();
                let _ = tokio::io::copy(&mut rd, &mut wr).await;
                let _ = wr.shutdown().await;
            });
        }
    });
    Ok(addr)
}
