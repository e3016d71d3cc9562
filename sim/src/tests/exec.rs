//! Exec and attach over both transports, driven by the crate's own client-role drivers.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::super::{SimConfig, SimServer};
use super::{bearer, collect, send};
use proxy_core::channel::{Channel, Frame, Msg, Protocol, StreamOptions};
use proxy_core::peer::Peer;
use proxy_core::websocket::{self, WsProtocol};

#[derive(Clone, Copy, Debug)]
enum Transport {
    WebSocket(WsProtocol),
    Spdy,
}

/// Opens an exec/attach session at `path_and_query`; `Err` is the refusal status code.
async fn open(
    server: &SimServer,
    transport: Transport,
    path_and_query: &str,
) -> Result<Peer, StatusCode> {
    let opts = StreamOptions::from_query(path_and_query.split_once('?').map_or("", |(_, q)| q));
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let mut headers = HeaderMap::new();
    headers.insert("authorization", bearer(server).parse().unwrap());
    let (method, key) = match transport {
        Transport::WebSocket(p) => (
            Method::GET,
            Some(websocket::handshake::add_request_headers(
                &mut headers,
                &[p],
            )),
        ),
        Transport::Spdy => {
            headers.insert("connection", "Upgrade".parse().unwrap());
            headers.insert("upgrade", "SPDY/3.1".parse().unwrap());
            for p in Protocol::ALL {
                headers.append("x-stream-protocol-version", p.name().parse().unwrap());
            }
            (Method::POST, None)
        }
    };
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{}{path_and_query}", server.url()));
    *req.headers_mut().unwrap() = headers;
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(resp.status());
    }
    let negotiated = match transport {
        Transport::WebSocket(p) => {
            let got = websocket::handshake::verify_response(
                resp.status(),
                resp.headers(),
                key.as_deref().unwrap(),
                &[p],
            )
            .unwrap();
            assert_eq!(got, p);
            None
        }
        Transport::Spdy => {
            let v = resp.headers()["x-stream-protocol-version"]
                .to_str()
                .unwrap();
            assert_eq!(v, "v4.channel.k8s.io", "the sim answers like a kubelet");
            Protocol::from_name(v)
        }
    };
    let io = TokioIo::new(hyper::upgrade::on(resp).await.unwrap());
    Ok(match transport {
        Transport::WebSocket(p) => websocket::connect(io, p, opts),
        Transport::Spdy => proxy_core::spdy::connect(io, opts, negotiated.expect("negotiated"))
            .await
            .expect("spdy streams"),
    })
}

const TRANSPORTS: [Transport; 4] = [
    Transport::WebSocket(WsProtocol::V5),
    Transport::WebSocket(WsProtocol::V4),
    Transport::WebSocket(WsProtocol::V4Base64),
    Transport::Spdy,
];

#[tokio::test]
async fn exec_with_stdin_and_exit_code_over_every_transport() {
    let server = SimServer::start(SimConfig::default()).await.unwrap();
    let path = "/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&command=head%20-c%205%3B%20echo%20err%20%3E%262%3B%20exit%203&stdin=true&stdout=true&stderr=true";
    for t in TRANSPORTS {
        let mut peer = open(&server, t, path).await.unwrap();
        // v4 WebSocket has no half-close, so the command stops reading by itself.
        peer.outgoing
            .send(Msg::Data(Frame::new(
                Channel::Stdin,
                Bytes::from_static(b"hello world"),
            )))
            .await
            .unwrap();
        let (out, err, status) = collect(&mut peer).await;
        assert_eq!(out, b"hello", "{t:?}");
        assert_eq!(err, b"err\n", "{t:?}");
        assert_eq!(status.exit_code_value(), Some(3), "{t:?}");
    }
}

#[tokio::test]
async fn tty_exec_applies_resize_over_every_transport() {
    let server = SimServer::start(SimConfig::default()).await.unwrap();
    let path = "/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&command=read%20x%3B%20stty%20size&stdin=true&stdout=true&tty=true";
    for t in [Transport::WebSocket(WsProtocol::V5), Transport::Spdy] {
        let mut peer = open(&server, t, path).await.unwrap();
        peer.outgoing
            .send(Msg::Data(Frame::new(
                Channel::Resize,
                Bytes::from_static(b"{\"Width\":100,\"Height\":30}\n"),
            )))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        peer.outgoing
            .send(Msg::Data(Frame::new(
                Channel::Stdin,
                Bytes::from_static(b"go\r"),
            )))
            .await
            .unwrap();
        let (out, err, status) = collect(&mut peer).await;
        assert!(
            String::from_utf8_lossy(&out).contains("30 100"),
            "{t:?}: {:?}",
            String::from_utf8_lossy(&out)
        );
        assert!(err.is_empty());
        assert!(status.is_success(), "{t:?}: {status:?}");
    }
}

#[tokio::test]
async fn attach_runs_the_attach_command_until_stdin_closes() {
    let server = SimServer::start(SimConfig::default()).await.unwrap();
    let path = "/api/v1/namespaces/shop/pods/api-7/attach?container=api&stdin=true&stdout=true&stderr=true";
    for t in [Transport::WebSocket(WsProtocol::V5), Transport::Spdy] {
        let mut peer = open(&server, t, path).await.unwrap();
        peer.outgoing
            .send(Msg::Data(Frame::new(
                Channel::Stdin,
                Bytes::from_static(b"ping\n"),
            )))
            .await
            .unwrap();
        peer.outgoing
            .send(Msg::Close(Channel::Stdin))
            .await
            .unwrap();
        let (out, _, status) = collect(&mut peer).await;
        assert_eq!(out, b"api: attached\nping\n", "{t:?}");
        assert!(status.is_success());
    }
}

#[tokio::test]
async fn refusals_before_the_upgrade() {
    let cfg = SimConfig {
        websocket: false,
        ..SimConfig::default()
    };
    let server = SimServer::start(cfg).await.unwrap();
    let ok = "/api/v1/namespaces/default/pods/web-0/exec?command=true&stdout=true";
    assert_eq!(
        open(&server, Transport::WebSocket(WsProtocol::V5), ok)
            .await
            .err(),
        Some(StatusCode::BAD_REQUEST)
    );
    assert!(open(&server, Transport::Spdy, ok).await.is_ok());
    let cases = [
        (
            "/api/v1/namespaces/default/pods/nope/exec?command=true&stdout=true",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/namespaces/default/pods/web-0/exec?stdout=true",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/namespaces/default/pods/web-0/exec?command=true",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/namespaces/shop/pods/api-7/exec?command=true&stdout=true",
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (path, code) in cases {
        assert_eq!(
            open(&server, Transport::Spdy, path).await.err(),
            Some(code),
            "{path}"
        );
    }
    // No upgrade at all.
    let plain = send(
        &server,
        Method::POST,
        ok,
        &[("authorization", &bearer(&server))],
        None,
        false,
    )
    .await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);
    assert_eq!(plain.json()["message"], "Upgrade request required");
}

#[tokio::test]
async fn missing_command_fails_on_the_error_channel() {
    let server = SimServer::start(SimConfig::default()).await.unwrap();
    let path = "/api/v1/namespaces/default/pods/web-0/exec?command=kw-no-such-cmd&stdout=true";
    for t in [Transport::WebSocket(WsProtocol::V5), Transport::Spdy] {
        let mut peer = open(&server, t, path).await.unwrap();
        let (_, _, status) = collect(&mut peer).await;
        assert!(
            status
                .message
                .contains("executable file not found in $PATH"),
            "{t:?}: {status:?}"
        );
    }
}
