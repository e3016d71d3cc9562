//! Tests of the simulated API server: REST and discovery over HTTP/1.1 and HTTP/2, logs,
//! the process peer, exec over both transports and real kubectl against it.

mod exec;
mod kubectl;
mod kubectl_writes;
mod logs;
mod process;
mod rest;
mod subresources;
mod writes;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::{SimConfig, SimServer};
use proxy_core::channel::{Channel, Frame, Msg};
use proxy_core::peer::Peer;
use proxy_core::status::Status;
use std::time::Duration;

/// A response, fully read.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    /// Body frames as they arrived.
    pub(super) frames: Vec<Bytes>,
}

impl Reply {
    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

pub(super) async fn start() -> SimServer {
    SimServer::start(SimConfig::default())
        .await
        .expect("sim starts")
}

pub(super) fn bearer(server: &SimServer) -> String {
    format!("Bearer {}", server.config().token)
}

/// Sends one request over a fresh HTTP/1.1 (or, with `h2`, prior-knowledge HTTP/2) connection.
pub(super) async fn send(
    server: &SimServer,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Bytes>,
    h2: bool,
) -> Reply {
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body.unwrap_or_default())).unwrap();
    let resp = if h2 {
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        send.send_request(req).await.unwrap()
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        send.send_request(req).await.unwrap()
    };
    let (parts, mut body) = resp.into_parts();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            frames.push(data);
        }
    }
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: frames.concat().into(),
        frames,
    }
}

/// Collects stdout, stderr and the status; asserts nothing follows the status.
pub(super) async fn collect(peer: &mut Peer) -> (Vec<u8>, Vec<u8>, Status) {
    let (mut out, mut err, mut status) = (Vec::new(), Vec::new(), None);
    while let Some(msg) = tokio::time::timeout(Duration::from_secs(20), peer.incoming.recv())
        .await
        .expect("peer hung")
    {
        let Msg::Data(Frame { channel, bytes }) = msg else {
            continue;
        };
        assert!(status.is_none(), "data after the status");
        match channel {
            Channel::Stdout => out.extend_from_slice(&bytes),
            Channel::Stderr => err.extend_from_slice(&bytes),
            Channel::Error => {
                status = Some(Status::from_error_stream(
                    proxy_core::channel::Protocol::V4,
                    &bytes,
                ))
            }
            other => panic!("unexpected channel {other:?}"),
        }
    }
    (out, err, status.expect("a status"))
}

/// An authenticated HTTP/1.1 GET.
pub(super) async fn get(server: &SimServer, path: &str) -> Reply {
    send(
        server,
        Method::GET,
        path,
        &[("authorization", &bearer(server))],
        None,
        false,
    )
    .await
}
