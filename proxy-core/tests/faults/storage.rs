//! The recording store misbehaves during a kubectl session: slow writes with a spike slow
//! the client without cutting it; failing writes end the session with a message kubectl
//! prints, and the restart seals the recording as `interrupted`.

use std::time::{Duration, Instant};

use crate::front::Front;
use crate::store::FaultyStore;
use crate::support::*;

/// The lines `seq 1 N` prints.
fn seq_output(n: u32) -> Vec<u8> {
    (1..=n)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect()
}

#[tokio::test]
async fn a_slow_store_with_a_latency_spike_slows_the_client_without_cutting_it() {
    let bed = testbed().await;
    let faulty = FaultyStore::new(&bed.dir().join("slow-store"));
    let front = Front::start(
        &bed,
        "slow",
        faulty.store.clone(),
        bed.dir().join("slow-spool"),
    )
    .await;
    // ~2.7 MB: about 11 chunks of 256 KiB against a window of two.
    let full = seq_output(400_000);
    let pin = seal_key(&bed);
    for client in BOTH {
        let before = faulty.healthy.sessions().await.unwrap();
        // The session's first write takes 3 s (under the 10 s stall timeout), then writes
        // take 100 ms. The client may run at most one window (two chunks) ahead of what is
        // stored, so with ~11 chunks of output it must wait for that first write, however
        // the tasks are scheduled. (Spikes near a session's end can outlast the upstream
        // WebSocket driver's close grace, `CLOSE_GRACE` twice, after which it drops the
        // connection, so the spike comes first.)
        faulty.delay(Duration::from_secs(3));
        let stored = faulty.chunks();
        let started = Instant::now();
        let args = ["exec", "web-0", "--", "seq", "1", "400000"];
        let session = kubectl_with(&bed, &front.kubeconfig, client, &args, None);
        let spike = async {
            faulty
                .wait_for_chunks(stored + 1, Duration::from_secs(30))
                .await;
            faulty.delay(Duration::from_millis(100));
        };
        let (run, ()) = tokio::join!(session, spike);
        let took = started.elapsed();
        run.ok();
        assert_same_bytes(&run.stdout, &full);
        assert!(
            took >= Duration::from_secs(3),
            "{client:?}: the client was not held back by the store: {took:?}"
        );
        let (id, report) = new_sealed_session(&faulty.healthy, &pin, &before).await;
        assert!(report.intact, "{client:?}: {:?}", report.problems);
        assert_eq!(report.end_reason.as_deref(), Some("completed"));
        assert!(report.chunks >= 10, "{client:?}: {} chunks", report.chunks);
        let (out, _) = exported_text(&faulty.healthy, &id).await;
        assert_same_bytes(&out, &full);
        println!(
            "{client:?}: {} bytes through a slow store in {took:?}",
            full.len()
        );
    }
}

#[tokio::test]
async fn a_failing_store_ends_the_session_and_the_restart_seals_it_interrupted() {
    let bed = testbed().await;
    let pin = seal_key(&bed);
    for client in BOTH {
        let faulty = FaultyStore::new(&bed.dir().join(format!("failing-store-{client:?}")));
        let spool = bed.dir().join(format!("failing-spool-{client:?}"));
        let mut front = Front::start(&bed, "failing", faulty.store.clone(), spool.clone()).await;
        // A line every 50 ms for 10 s: chunks are cut by time (1 s) while it runs.
        let script = "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); sleep 0.05; done";
        let args = ["exec", "web-0", "--", "sh", "-c", script];
        let session = kubectl_with(&bed, &front.kubeconfig, client, &args, None);
        let failure = async {
            // The start chunk and one chunk of output are stored; then the store fails.
            faulty.wait_for_chunks(2, Duration::from_secs(30)).await;
            faulty.fail(true);
        };
        let started = Instant::now();
        let (run, ()) = tokio::join!(session, failure);
        assert_ne!(run.code, Some(0), "{client:?}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{client:?}: not ended early"
        );
        for part in [
            "the recording store failed",
            "Not a directory",
            "unrecorded sessions are not allowed",
        ] {
            assert!(run.stderr.contains(part), "{client:?}: {}", run.stderr);
        }
        assert!(
            !run.stdout.is_empty(),
            "{client:?}: the session had started"
        );

        // Unsealed until kubewitness restarts and recovers it from the spool.
        faulty.fail(false);
        let ids = faulty.healthy.sessions().await.unwrap();
        assert_eq!(ids.len(), 1, "{client:?}");
        let report =
            proxy_core::record::verify_session(&faulty.healthy, &ids[0], Some(&pin), &|| {}).await;
        assert!(
            report
                .problems
                .contains(&proxy_core::record::Problem::Unsealed),
            "{client:?}: {:?}",
            report.problems
        );
        let recovered = front.restart(&bed, faulty.healthy.clone()).await;
        assert_eq!(recovered, ids, "{client:?}");
        let (id, report) = new_sealed_session(&faulty.healthy, &pin, &[]).await;
        assert!(report.intact, "{client:?}: {:?}", report.problems);
        assert!(report.pinned);
        assert_eq!(report.end_reason.as_deref(), Some("interrupted"));
        // Everything kubectl printed is in the record (spooled chunks were uploaded).
        let (out, _) = exported_text(&faulty.healthy, &id).await;
        assert!(
            out.starts_with(&run.stdout),
            "{client:?}: kubectl printed {} bytes the record lacks (record has {})",
            run.stdout.len(),
            out.len()
        );
        assert!(
            std::fs::read_dir(&spool).unwrap().next().is_none(),
            "{client:?}: the spool is empty after recovery"
        );
    }
}
