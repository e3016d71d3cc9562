//! The WebSocket → SPDY fallback happens only after a refusal, never after a 101.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::OpenError;
use crate::auth::Identity;
use crate::channel::StreamOptions;
use crate::config::UpstreamConfig;
use crate::request::StreamRequest;
use crate::upstream::{Origin, Upstream};

/// An API server that switches protocols for every request with a wrong
/// `Sec-WebSocket-Accept`, counting the requests it saw.
async fn switching_server(answer: &'static str) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counted = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = tcp.write_all(answer.as_bytes()).await;
                let _ = tcp.read(&mut buf).await;
            });
        }
    });
    (addr, seen)
}

async fn upstream_at(addr: std::net::SocketAddr, dir: &std::path::Path) -> Upstream {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"http://{addr}\"}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    Upstream::from_config(&UpstreamConfig {
        kubeconfig: Some(kubeconfig),
        context: None,
        ..Default::default()
    })
    .await
    .unwrap()
}

fn exec_request() -> StreamRequest {
    StreamRequest {
        subresource: "exec".into(),
        namespace: "default".into(),
        pod: "web-0".into(),
        container: None,
        command: vec!["date".into()],
        options: StreamOptions {
            stdout: true,
            ..StreamOptions::default()
        },
    }
}

/// Opens an exec against a server answering every request with `answer`: the error and
/// how many requests the server saw.
async fn open_against(answer: &'static str) -> (OpenError, usize) {
    let (addr, seen) = switching_server(answer).await;
    let dir = tempfile::tempdir().unwrap();
    let upstream = upstream_at(addr, dir.path()).await;
    let origin = Origin::new("127.0.0.1".parse().unwrap());
    let err = upstream
        .open_stream(&exec_request(), &Identity::default(), &origin)
        .await
        .unwrap_err();
    (err, seen.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_failure_after_a_101_never_falls_back_to_spdy() {
    let (err, seen) = open_against(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: bm90LXRoZS1yaWdodC1hY2NlcHQ=\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n",
    )
    .await;
    assert!(matches!(err, OpenError::Failed(_)), "{err:?}");
    assert_eq!(seen, 1, "the command was asked for twice");
}

#[tokio::test]
async fn a_refused_websocket_upgrade_falls_back_to_spdy() {
    let (err, seen) = open_against(
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nno",
    )
    .await;
    assert!(matches!(err, OpenError::Refused { .. }), "{err:?}");
    assert_eq!(seen, 2, "websocket, then spdy");
}
