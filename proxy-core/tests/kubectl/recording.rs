//! Sessions through kubewitness are recorded: the export reproduces what kubectl printed,
//! and the record verifies against the testbed's signing key.

use std::time::Duration;

use proxy_core::record::seal::load_public_key;
use proxy_core::record::{RecordStore, SessionReport, export, verify_session};
use proxy_core::testbed::Testbed;

use crate::support::*;

/// The store the testbed records to.
pub(crate) fn store(bed: &Testbed) -> RecordStore {
    let rc = bed.config.recording.as_ref().expect("the testbed records");
    RecordStore::open(&rc.store, &[], None).expect("the store opens")
}

/// Waits for the session that is not in `before` to be sealed, and verifies it.
async fn new_sealed_session(bed: &Testbed, before: &[String]) -> (String, SessionReport) {
    let store = store(bed);
    for _ in 0..200 {
        let ids = store.sessions().await.expect("lists");
        let new: Vec<_> = ids.iter().filter(|i| !before.contains(i)).collect();
        assert!(new.len() <= 1, "one session at a time: {new:?}");
        if let Some(id) = new.first() {
            return ((*id).clone(), sealed_session(bed, id).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no new session");
}

/// Waits for session `id` to be sealed, and verifies it against the testbed's key.
pub(crate) async fn sealed_session(bed: &Testbed, id: &str) -> SessionReport {
    let store = store(bed);
    let pin = load_public_key(&bed.dir().join("recording.pub")).expect("public key");
    for _ in 0..200 {
        let r = verify_session(&store, id, Some(&pin), &|| {}).await;
        if !r.problems.contains(&proxy_core::record::Problem::Unsealed) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("session {id} was not sealed");
}

pub(crate) async fn exported_text(bed: &Testbed, id: &str) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    export::text(&store(bed), id, &mut out, &mut err)
        .await
        .expect("exports");
    (out, err)
}

#[tokio::test]
async fn an_exec_session_is_recorded_exactly_and_verifies() {
    let bed = testbed().await;
    for client in BOTH {
        let before = store(&bed).sessions().await.unwrap();
        let run = kubectl(
            &bed,
            client,
            &[
                "exec",
                "web-0",
                "--",
                "sh",
                "-c",
                "echo to-out; echo to-err >&2; seq 1 2000",
            ],
        )
        .await;
        run.ok();
        let (id, report) = new_sealed_session(&bed, &before).await;
        assert!(report.intact, "{client:?}: {:?}", report.problems);
        assert!(report.pinned);
        assert_eq!(report.end_reason.as_deref(), Some("completed"));
        let (out, err) = exported_text(&bed, &id).await;
        assert_same_bytes(&out, &run.stdout);
        assert_eq!(err, b"to-err\n");
    }
}

#[tokio::test]
async fn piped_stdin_is_recorded_too() {
    let bed = testbed().await;
    let input = noise(300_000, 5);
    let before = store(&bed).sessions().await.unwrap();
    let run = kubectl_stdin(
        &bed,
        Client::WebSocket,
        &["exec", "-i", "web-0", "--", "cat"],
        input.clone(),
    )
    .await;
    run.ok();
    let (id, report) = new_sealed_session(&bed, &before).await;
    assert!(report.intact, "{:?}", report.problems);
    assert_eq!(report.bytes.stdin, input.len() as u64);
    assert!(report.chunks > 1, "{} chunks", report.chunks);
    let (out, _) = exported_text(&bed, &id).await;
    assert_same_bytes(&out, &input);
}

#[tokio::test]
async fn a_followed_log_is_recorded_exactly_and_verifies() {
    let bed = testbed().await;
    let pod = bed.sim.config().pods[0].name.clone();
    let before = store(&bed).sessions().await.unwrap();
    let run = kubectl(&bed, Client::WebSocket, &["logs", "-f", &pod]).await;
    run.ok();
    let (id, report) = new_sealed_session(&bed, &before).await;
    assert!(report.intact, "{:?}", report.problems);
    let (out, _) = exported_text(&bed, &id).await;
    assert_same_bytes(&out, &run.stdout);
    let mut jsonl = Vec::new();
    export::jsonl(&store(&bed), &id, &mut jsonl).await.unwrap();
    let first: serde_json::Value =
        serde_json::from_str(std::str::from_utf8(&jsonl).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["meta"]["kind"], "logs");
    assert_eq!(first["meta"]["user"], "alice");
}
