//! An in-process exec client, so the end-to-end benches measure kubewitness and not
//! kubectl: one HTTP/1.1 connection per session (TLS or plain), the upgrade done with
//! hyper, then the crate's own client-role drivers (`websocket::connect`, `spdy::connect`)
//! exactly as kubewitness uses them toward an API server.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use proxy_core::channel::{Protocol, StreamOptions};
use proxy_core::peer::Peer;
use proxy_core::portforward;
use proxy_core::websocket::{self, WsProtocol};
use proxy_core::{spdy, spdy::handshake as spdy_handshake};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::BenchError;

/// The exec channel protocol a session speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket `v5.channel.k8s.io`.
    WebSocket,
    /// SPDY/3.1 with `v4.channel.k8s.io`.
    Spdy,
}

impl Transport {
    /// Both transports, in report order.
    pub const ALL: [Transport; 2] = [Transport::WebSocket, Transport::Spdy];

    /// `ws` or `spdy`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::WebSocket => "ws",
            Transport::Spdy => "spdy",
        }
    }
}

/// Where sessions go: kubewitness, the simulated API server directly, or `kubectl proxy`.
#[derive(Clone)]
pub struct Target {
    /// A label for reports (`direct`, `kubewitness`, `kubectl-proxy`).
    pub name: String,
    /// The listening address.
    pub addr: SocketAddr,
    /// TLS trusting one CA; plain HTTP when `None`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The bearer token, if the target wants one.
    pub token: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// A TLS client configuration trusting only `ca_pem`.
pub fn tls_trusting(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, BenchError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The exec path for `argv` in pod `default/web-0` (the simulated cluster's demo pod).
pub fn exec_path(argv: &[&str], stdin: bool) -> String {
    let mut q = String::new();
    for a in argv {
        q.push_str("command=");
        q.push_str(&percent_encode(a));
        q.push('&');
    }
    if stdin {
        q.push_str("stdin=true&");
    }
    q.push_str("stdout=true");
    format!("/api/v1/namespaces/default/pods/web-0/exec?{q}")
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A connection to a target: TLS or plain TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Connects to `target` (TLS when it has a TLS configuration).
async fn dial(target: &Target) -> Result<Box<dyn Io>, BenchError> {
    let tcp = TcpStream::connect(target.addr).await?;
    tcp.set_nodelay(true)?;
    Ok(match &target.tls {
        Some(tls) => {
            let name = ServerName::IpAddress(target.addr.ip().into());
            Box::new(TlsConnector::from(tls.clone()).connect(name, tcp).await?)
        }
        None => Box::new(tcp),
    })
}

/// Sends an upgrade request (`headers` plus host and token) on a new connection to
/// `target`; returns the 101 response.
async fn request_upgrade(
    target: &Target,
    method: Method,
    path_and_query: &str,
    mut headers: HeaderMap,
) -> Result<hyper::Response<hyper::body::Incoming>, BenchError> {
    let io = dial(target).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(conn.with_upgrades());
    headers.insert("host", HeaderValue::from_str(&target.addr.to_string())?);
    if let Some(token) = &target.token {
        headers.insert("authorization", format!("Bearer {token}").parse()?);
    }
    let mut req = Request::builder().method(method).uri(path_and_query);
    if let Some(h) = req.headers_mut() {
        *h = headers;
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new())?)
        .await?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(format!("{}: upgrade refused with {}", target.name, resp.status()).into());
    }
    Ok(resp)
}

/// Opens an exec session at `path_and_query` on `target` over `transport`.
pub async fn open(
    target: &Target,
    transport: Transport,
    path_and_query: &str,
) -> Result<Peer, BenchError> {
    let query = path_and_query.split_once('?').map_or("", |(_, q)| q);
    let opts = StreamOptions::from_query(query);
    let mut headers = HeaderMap::new();
    let (method, key) = match transport {
        Transport::WebSocket => (
            Method::GET,
            Some(websocket::handshake::add_request_headers(
                &mut headers,
                &[WsProtocol::V5],
            )),
        ),
        Transport::Spdy => {
            spdy_handshake::add_request_headers(&mut headers, &[Protocol::V4]);
            (Method::POST, None)
        }
    };
    let resp = request_upgrade(target, method, path_and_query, headers).await?;
    let negotiated = match (transport, key) {
        (Transport::WebSocket, Some(key)) => {
            websocket::handshake::verify_response(
                resp.status(),
                resp.headers(),
                &key,
                &[WsProtocol::V5],
            )?;
            None
        }
        _ => Some(
            spdy_handshake::verify_response(resp.status(), resp.headers())?.unwrap_or(Protocol::V1),
        ),
    };
    let io = TokioIo::new(hyper::upgrade::on(resp).await?);
    Ok(match negotiated {
        None => websocket::connect(io, WsProtocol::V5, opts),
        Some(protocol) => spdy::connect(io, opts, protocol).await?,
    })
}

/// Opens a port-forward connection (SPDY, `portforward.k8s.io`) to `namespace/pod` on
/// `target`; each `Tunnel::open` is then one forwarded connection.
pub async fn open_portforward(
    target: &Target,
    namespace: &str,
    pod: &str,
) -> Result<portforward::Tunnel, BenchError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    headers.insert(http::header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    headers.insert(
        "x-stream-protocol-version",
        HeaderValue::from_static(portforward::PROTOCOL),
    );
    let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}/portforward");
    let resp = request_upgrade(target, Method::POST, &path, headers).await?;
    Ok(portforward::connect(TokioIo::new(
        hyper::upgrade::on(resp).await?,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_path_encodes_arguments() {
        assert_eq!(
            exec_path(&["sh", "-c", "head -c 1 /x"], true),
            "/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&command=head%20-c%201%20/x&stdin=true&stdout=true"
        );
    }
}
