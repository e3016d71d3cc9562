//! Hostile port-forward clients: malformed stream headers, duplicates, a flood of pairs past
//! the cap, data before a pair is complete. Each is refused stream by stream (RST_STREAM),
//! the connection keeps working for well-formed pairs, and kubewitness keeps serving others.

use bytes::Bytes;
use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use kubewitness_sim::{SimConfig, echo_server};
use proxy_core::portforward::MAX_PAIRS;
use proxy_core::spdy::frame::{Data, Frame, RstStatus, RstStream, SynStream};

use crate::support::*;

/// The built-in policy plus port-forward to `web-0`, unredacted.
fn policy() -> String {
    format!(
        "{}- name: forward\n  subjects: {{groups: [sre]}}\n  namespaces: [default]\n  pods: [web-0]\n  read: [pods]\n  portForward: true\n  redact: false\n",
        proxy_core::policy::BUILTIN_POLICY
    )
}

async fn bed() -> Testbed {
    let mut sim = SimConfig::default();
    sim.port_forwards.insert(
        ("default/web-0".into(), 80),
        echo_server().await.expect("echo"),
    );
    testbed_with(TestbedOptions {
        sim,
        policy: Some(policy()),
        ..TestbedOptions::default()
    })
    .await
}

async fn forward(bed: &Testbed) -> Spdy {
    let headers = vec![
        ("Connection", "Upgrade".into()),
        ("Upgrade", "SPDY/3.1".into()),
        ("X-Stream-Protocol-Version", "portforward.k8s.io".into()),
        ("Content-Length", "0".into()),
    ];
    Spdy::upgrade(
        bed,
        "/api/v1/namespaces/default/pods/web-0/portforward",
        &headers,
    )
    .await
}

fn syn(spdy: &mut Spdy, id: u32, headers: &[(&[u8], &[u8])]) -> Frame {
    Frame::SynStream(SynStream::new(
        id,
        spdy.deflate.compress(&raw_block(headers)),
    ))
}

/// Sends a SYN_STREAM and returns kubewitness's answer to it.
async fn open(spdy: &mut Spdy, id: u32, kind: &str, port: &str, rid: &str) -> Frame {
    let f = syn(
        spdy,
        id,
        &[
            (b"streamtype", kind.as_bytes()),
            (b"port", port.as_bytes()),
            (b"requestid", rid.as_bytes()),
        ],
    );
    assert!(spdy.send(&f).await, "send SYN_STREAM");
    loop {
        match spdy.next().await.expect("an answer") {
            Frame::Ping(_) => {}
            other => return other,
        }
    }
}

fn refused(id: u32) -> Frame {
    Frame::RstStream(RstStream {
        stream_id: id,
        status: RstStatus::REFUSED_STREAM,
    })
}

/// Opens a well-formed pair at `id`, sends `payload` and reads the echo back.
async fn echo_through(spdy: &mut Spdy, id: u32, rid: &str, payload: &'static [u8]) {
    for (sid, kind) in [(id, "error"), (id + 2, "data")] {
        assert!(matches!(
            open(spdy, sid, kind, "80", rid).await,
            Frame::SynReply(_)
        ));
    }
    echo_on(spdy, id + 2, payload).await;
}

/// Sends `payload` on data stream `id` and reads the echo back.
async fn echo_on(spdy: &mut Spdy, id: u32, payload: &'static [u8]) {
    let data = Frame::Data(Data {
        stream_id: id,
        fin: false,
        payload: Bytes::from_static(payload),
    });
    assert!(spdy.send(&data).await);
    let mut got = Vec::new();
    while got.len() < payload.len() {
        match spdy.next().await.expect("the echo") {
            Frame::Data(d) if d.stream_id == id => got.extend_from_slice(&d.payload),
            Frame::Ping(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, payload);
}

#[tokio::test]
async fn malformed_and_excess_streams_are_refused_one_by_one() {
    let _g = shared().await;
    let bed = bed().await;
    let mut spdy = forward(&bed).await;
    let mut id = 1;
    // Headers the kubelet refuses, and a request id that is not a header value at all.
    let long_id = "9".repeat(1000);
    for (kind, port, rid) in [
        ("error", "0", "a"),
        ("error", "65536", "a"),
        ("error", "-1", "a"),
        ("stdin", "80", "a"),
        ("data", "80", long_id.as_str()),
        ("data", "80", "has space"),
    ] {
        assert_eq!(
            open(&mut spdy, id, kind, port, rid).await,
            refused(id),
            "{kind} {port}"
        );
        id += 2;
    }
    // A stream without streamtype.
    let f = syn(&mut spdy, id, &[(b"port", b"80")]);
    assert!(spdy.send(&f).await);
    assert_eq!(spdy.next().await, Some(refused(id)));
    id += 2;
    // Data on a data stream whose error stream never came.
    assert!(matches!(
        open(&mut spdy, id, "data", "80", "early").await,
        Frame::SynReply(_)
    ));
    let early = Frame::Data(Data {
        stream_id: id,
        fin: false,
        payload: Bytes::from_static(b"too early"),
    });
    assert!(spdy.send(&early).await);
    assert_eq!(
        spdy.next().await,
        Some(Frame::RstStream(RstStream {
            stream_id: id,
            status: RstStatus::PROTOCOL_ERROR
        }))
    );
    id += 2;
    // Fill the connection with half pairs, then one more is refused.
    for i in 0..MAX_PAIRS {
        let answer = open(&mut spdy, id, "error", "80", &format!("half-{i}")).await;
        assert!(matches!(answer, Frame::SynReply(_)), "{answer:?}");
        id += 2;
    }
    assert_eq!(
        open(&mut spdy, id, "error", "80", "one-more").await,
        refused(id)
    );
    id += 2;
    // Completing one of them still works, end to end, on the same connection.
    assert!(matches!(
        open(&mut spdy, id, "data", "80", "half-0").await,
        Frame::SynReply(_)
    ));
    echo_on(&mut spdy, id, b"ping").await;
    drop(spdy);
    // A new connection works, and so does an ordinary kubectl exec.
    let mut again = forward(&bed).await;
    echo_through(&mut again, 1, "fresh", b"still forwarding").await;
    still_serving(&bed, Client::Spdy).await;
}
