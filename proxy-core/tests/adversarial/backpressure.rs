//! A client that never reads while the command writes 1 GiB: kubewitness' memory stays
//! bounded (backpressure reaches the command), and when the client hangs up the session
//! ends and its recording is sealed.

use std::time::Duration;

use kubewitness_sim::testbed::Testbed;
use proxy_core::record::seal::load_public_key;
use proxy_core::record::{Problem, RecordStore, verify_session};
use tokio::io::AsyncReadExt;

use crate::support::*;

const ONE_GIB: &str = "command=head&command=-c&command=1073741824&command=/dev/zero";
/// How long the client sits on its hands.
const STALL: Duration = Duration::from_secs(3);

/// Reads at least `n` bytes off `io` (proof that output was flowing before the stall).
async fn read_at_least(io: &mut Tls, n: usize) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while got < n {
        let n = timed("output before the stall", io.read(&mut buf))
            .await
            .expect("reads");
        assert!(n > 0, "closed after {got} bytes");
        got += n;
    }
}

/// Waits for the one session the testbed recorded to be sealed, and verifies it.
async fn sealed_recording(bed: &Testbed) {
    let rc = bed.config.recording.as_ref().expect("the testbed records");
    let store = RecordStore::open(&rc.store, &[], None).expect("the store opens");
    let pin = load_public_key(&bed.dir().join("recording.pub")).expect("public key");
    let deadline = tokio::time::Instant::now() + SESSION_END_TIMEOUT;
    loop {
        let ids = store.sessions().await.expect("lists");
        assert!(ids.len() <= 1, "{ids:?}");
        if let Some(id) = ids.first() {
            let r = verify_session(&store, id, Some(&pin), &|| {}).await;
            if !r.problems.contains(&Problem::Unsealed) {
                eprintln!(
                    "never-reading client: recording {id}: {}, end {:?}, {} stdout bytes",
                    r.summary(),
                    r.end_reason,
                    r.bytes.stdout
                );
                assert!(r.intact, "{}", r.summary());
                assert_eq!(r.end_reason.as_deref(), Some("clientGone"));
                assert!(r.bytes.stdout >= 1 << 20);
                assert!(r.bytes.stdout < 1 << 30, "all of it went through");
                return;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "never sealed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stall_then_leave(bed: &Testbed, mut io: Tls, what: &str) {
    read_at_least(&mut io, 1 << 20).await;
    let watch = RssWatch::start();
    tokio::time::sleep(STALL).await;
    assert_eq!(
        bed.proxy.active_sessions(),
        1,
        "the session is still running"
    );
    watch.finish(what);
    drop(io);
    sessions_end(bed).await;
    sealed_recording(bed).await;
}

#[tokio::test]
async fn a_websocket_client_that_never_reads_pins_bounded_memory() {
    let _memory = exclusive().await;
    let bed = testbed().await;
    let ws = Ws::exec(
        &bed,
        &format!("{ONE_GIB}&stdout=1&stderr=1"),
        "v5.channel.k8s.io",
    )
    .await;
    stall_then_leave(&bed, ws.io, "WebSocket client not reading 1 GiB of stdout").await;
    still_serving(&bed, Client::WebSocket).await;
}

#[tokio::test]
async fn a_spdy_client_that_never_reads_pins_bounded_memory() {
    let _memory = exclusive().await;
    let bed = testbed().await;
    let mut spdy = Spdy::exec(&bed, &format!("{ONE_GIB}&stdout=1&stderr=1")).await;
    spdy.open(&["error", "stdout", "stderr"]).await;
    stall_then_leave(&bed, spdy.io, "SPDY client not reading 1 GiB of stdout").await;
    still_serving(&bed, Client::Spdy).await;
}
