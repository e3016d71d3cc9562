//! Listener limits against clients that never authenticate: half-sent request heads
//! (slowloris), TLS connections that never send, and more connections than an address may
//! hold. kubewitness must keep the descriptors it spends on them bounded and close them, and
//! a real `kubectl exec` from another address must work throughout.

use std::time::Duration;

use kubewitness_sim::testbed::TestbedOptions;
use proxy_core::config::ListenerConfig;
use tokio::io::AsyncWriteExt;

use crate::raw::{ATTACKER, held_from, send, tcp_from, tls_from};
use crate::support::*;

const PER_ADDRESS: usize = 16;
const IDLE: u64 = 2;

async fn limited_testbed() -> kubewitness_sim::testbed::Testbed {
    testbed_with(TestbedOptions {
        listener: ListenerConfig {
            header_read_timeout_seconds: Some(IDLE),
            idle_timeout_seconds: Some(IDLE),
            max_connections_per_address: Some(PER_ADDRESS),
            ..ListenerConfig::default()
        },
        ..TestbedOptions::default()
    })
    .await
}

#[tokio::test]
async fn a_slowloris_and_idle_flood_leaves_kubectl_working_with_bounded_descriptors() {
    let _g = shared().await;
    let bed = limited_testbed().await;
    let mut held = Vec::new();
    // 40 TLS connections that send half a request head and then one byte a second, 40 that
    // never send after the handshake, 40 that never even start TLS.
    for i in 0..120 {
        match i % 3 {
            0 => {
                if let Some(mut io) = tls_from(&bed, ATTACKER, false).await {
                    let _ = io.write_all(b"GET /api HTTP/1.1\r\nHost: x\r\n").await;
                    held.push(tokio::spawn(async move {
                        for _ in 0..30 {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            if io.write_all(b"X-Slow: 1\r\n").await.is_err() {
                                return;
                            }
                        }
                    }));
                }
            }
            1 => {
                if let Some(io) = tls_from(&bed, ATTACKER, false).await {
                    held.push(tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(io);
                    }));
                }
            }
            _ => {
                if let Ok(tcp) = tcp_from(&bed, ATTACKER).await {
                    held.push(tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(tcp);
                    }));
                }
            }
        }
    }
    let during = held_from(&bed, ATTACKER);
    eprintln!("descriptors kubewitness holds for 120 attacking connections: {during}");
    assert!(during <= PER_ADDRESS, "{during} held (limit {PER_ADDRESS})");
    still_serving(&bed, Client::WebSocket).await;
    still_serving(&bed, Client::Spdy).await;
    // Silence and slow heads are closed within the timeouts (the raw TCP ones by the TLS
    // handshake timeout, 10 s).
    tokio::time::sleep(Duration::from_secs(IDLE * 2 + 1)).await;
    let tls_left = held_from(&bed, ATTACKER);
    eprintln!("after {}s: {tls_left}", IDLE * 2 + 1);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = held_from(&bed, ATTACKER);
    eprintln!("after the TLS handshake timeout: {after}");
    assert_eq!(after, 0, "connections still held after every timeout");
    for h in held {
        h.abort();
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let _g = shared().await;
    let bed = limited_testbed().await;
    let mut io = tls_from(&bed, ATTACKER, false).await.expect("TLS");
    let head = format!(
        "GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        bed.callers[0].token
    );
    io.write_all(head.as_bytes()).await.unwrap();
    let (res, _) = read_response(&mut io).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(held_from(&bed, ATTACKER), 1);
    tokio::time::sleep(Duration::from_secs(IDLE + 2)).await;
    assert_eq!(held_from(&bed, ATTACKER), 0, "idle keep-alive still open");
}

#[tokio::test]
async fn a_get_with_a_body_is_refused_before_anything_is_read_or_forwarded() {
    let _g = shared().await;
    let bed = testbed().await;
    let body = "x".repeat(1024);
    let head = format!(
        "GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        bed.callers[0].token,
        body.len()
    );
    let res = send(&bed, "127.0.0.1".parse().unwrap(), &head).await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(
        crate::raw::message(&res).contains("must not have a body"),
        "{res:?}"
    );
    assert!(
        bed.sim.requests().is_empty(),
        "the GET with a body went upstream"
    );
}
