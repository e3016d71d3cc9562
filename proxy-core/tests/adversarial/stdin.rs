//! A stdin flood when the policy denies stdin: asking for stdin is refused before upstream;
//! sending stdin anyway on a session without it is discarded (never forwarded, never
//! recorded, memory flat) while the session runs to its normal end.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use proxy_core::spdy::frame::{Data, Frame, GoAwayStatus, RstStatus};

use crate::support::*;

/// alice (group sre) may exec anything, without stdin or a terminal.
const NO_STDIN: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: no-stdin
  subjects: {groups: [sre]}
  namespaces: [default]
  read: [pods]
  exec:
    commands: [["**"]]
    stdin: false
"#;

/// Sleeps, then copies whatever stdin it has (none: not requested), then says done.
const COPY_STDIN: &str =
    "command=sh&command=-c&command=sleep+2%3B+cat%3B+echo+done&stdout=1&stderr=1";
/// How long the flood lasts.
const FLOOD: Duration = Duration::from_millis(2500);

async fn bed() -> Testbed {
    testbed_with(TestbedOptions {
        policy: Some(NO_STDIN.into()),
        ..TestbedOptions::default()
    })
    .await
}

#[tokio::test]
async fn asking_for_stdin_is_refused_before_upstream() {
    let _shared = shared().await;
    let bed = bed().await;
    let query = format!("{COPY_STDIN}&stdin=1");
    for (method, headers) in [
        ("GET", ws_headers("v5.channel.k8s.io")),
        ("POST", spdy_headers()),
    ] {
        let (res, _, _) = request(&bed, method, &format!("{EXEC_PATH}?{query}"), &headers).await;
        assert_eq!(res.status, 403, "{method}: {res:?}");
        let (code, message) = status_body(&res.body);
        assert_eq!(code, 403);
        assert!(message.contains("does not allow stdin"), "{message}");
    }
    assert_eq!(upstream_execs(&bed), 0);
}

#[tokio::test]
async fn a_websocket_stdin_flood_without_stdin_is_discarded() {
    let _memory = exclusive().await;
    let bed = bed().await;
    let mut ws = Ws::exec(&bed, COPY_STDIN, "v5.channel.k8s.io").await;
    let watch = RssWatch::start();
    let chunk = vec![b'A'; 32 * 1024];
    let (started, mut sent) = (Instant::now(), 0usize);
    while started.elapsed() < FLOOD && ws.send_channel(0, &chunk).await {
        sent += chunk.len();
    }
    eprintln!("websocket stdin flood: {} MiB sent", sent >> 20);
    let (close, data) = ws.until_close().await;
    watch.finish("WebSocket stdin flood on a session without stdin");
    assert_eq!(close.map(|c| c.0), Some(1000));
    let stdout = channel_bytes(&data, 1);
    assert_eq!(String::from_utf8_lossy(&stdout), "done\n");
    drop(ws);
    sessions_end(&bed).await;
    assert_no_stdin_recorded(&bed).await;
    still_serving(&bed, Client::WebSocket).await;
}

#[tokio::test]
async fn a_spdy_stdin_flood_without_stdin_is_refused_and_discarded() {
    let _memory = exclusive().await;
    let bed = bed().await;
    let mut spdy = Spdy::exec(&bed, COPY_STDIN).await;
    spdy.open(&["error", "stdout", "stderr"]).await;
    // A stdin stream the session does not have is refused…
    let syn = spdy.syn_stream(7, "stdin");
    assert!(spdy.send(&syn).await);
    match spdy.next().await {
        Some(Frame::RstStream(r)) => {
            assert_eq!((r.stream_id, r.status), (7, RstStatus::REFUSED_STREAM));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // …and a flood on it anyway goes nowhere.
    let watch = RssWatch::start();
    let data = Frame::Data(Data {
        stream_id: 7,
        fin: false,
        payload: Bytes::from(vec![b'A'; 32 * 1024]),
    });
    let (started, mut sent) = (Instant::now(), 0usize);
    while started.elapsed() < FLOOD && spdy.send(&data).await {
        sent += 32 * 1024;
    }
    eprintln!("spdy stdin flood: {} MiB sent", sent >> 20);
    let mut stdout = Vec::new();
    let mut goaway = None;
    while let Some(frame) = spdy.next().await {
        match frame {
            Frame::Data(d) if d.stream_id == 3 => stdout.extend_from_slice(&d.payload),
            Frame::GoAway(g) => goaway = Some(g.status),
            _ => {}
        }
    }
    watch.finish("SPDY stdin flood on a refused stream");
    assert_eq!(String::from_utf8_lossy(&stdout), "done\n");
    assert_eq!(goaway, Some(GoAwayStatus::OK));
    drop(spdy);
    sessions_end(&bed).await;
    assert_no_stdin_recorded(&bed).await;
    still_serving(&bed, Client::Spdy).await;
}

/// The recording of the flooded session holds no stdin byte.
async fn assert_no_stdin_recorded(bed: &Testbed) {
    use proxy_core::record::{Problem, RecordStore, verify_session};
    let rc = bed.config.recording.as_ref().expect("the testbed records");
    let store = RecordStore::open(&rc.store, &[], None).expect("the store opens");
    let deadline = Instant::now() + SESSION_END_TIMEOUT;
    loop {
        let ids = store.sessions().await.expect("lists");
        if let Some(id) = ids.first() {
            let r = verify_session(&store, id, None, &|| {}).await;
            if !r.problems.contains(&Problem::Unsealed) {
                assert_eq!(r.bytes.stdin, 0, "stdin was recorded");
                assert_eq!(r.bytes.stdout, 5);
                return;
            }
        }
        assert!(Instant::now() < deadline, "never sealed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
