//! Sessions through kubewitness are recorded: the export reproduces what kubectl printed,
//! and the record verifies against the testbed's signing key.

use kubewitness_sim::testbed::Testbed;
use proxy_core::record::export;

use crate::support::*;

/// Waits for the session that is not in `before` to be sealed, and verifies it.
async fn sealed(bed: &Testbed, before: &[String]) -> (String, proxy_core::record::SessionReport) {
    new_sealed_session(&record_store(bed), &seal_key(bed), before).await
}

#[tokio::test]
async fn an_exec_session_is_recorded_exactly_and_verifies() {
    let bed = testbed().await;
    for client in BOTH {
        let before = record_store(&bed).sessions().await.unwrap();
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
        let (id, report) = sealed(&bed, &before).await;
        assert!(report.intact, "{client:?}: {:?}", report.problems);
        assert!(report.pinned);
        assert_eq!(report.end_reason.as_deref(), Some("completed"));
        let (out, err) = exported_text(&record_store(&bed), &id).await;
        assert_same_bytes(&out, &run.stdout);
        assert_eq!(err, b"to-err\n");
    }
}

#[tokio::test]
async fn piped_stdin_is_recorded_too() {
    let bed = testbed().await;
    let input = noise(300_000, 5);
    let before = record_store(&bed).sessions().await.unwrap();
    let run = kubectl_stdin(
        &bed,
        Client::WebSocket,
        &["exec", "-i", "web-0", "--", "cat"],
        input.clone(),
    )
    .await;
    run.ok();
    let (id, report) = sealed(&bed, &before).await;
    assert!(report.intact, "{:?}", report.problems);
    assert_eq!(report.bytes.stdin, input.len() as u64);
    assert!(report.chunks > 1, "{} chunks", report.chunks);
    let (out, _) = exported_text(&record_store(&bed), &id).await;
    assert_same_bytes(&out, &input);
}

#[tokio::test]
async fn a_followed_log_is_recorded_exactly_and_verifies() {
    let bed = testbed().await;
    let pod = bed.sim.config().pods[0].name.clone();
    let before = record_store(&bed).sessions().await.unwrap();
    let run = kubectl(&bed, Client::WebSocket, &["logs", "-f", &pod]).await;
    run.ok();
    let (id, report) = sealed(&bed, &before).await;
    assert!(report.intact, "{:?}", report.problems);
    let (out, _) = exported_text(&record_store(&bed), &id).await;
    assert_same_bytes(&out, &run.stdout);
    let mut jsonl = Vec::new();
    export::jsonl(&record_store(&bed), &id, &mut jsonl)
        .await
        .unwrap();
    let first: serde_json::Value =
        serde_json::from_str(std::str::from_utf8(&jsonl).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["meta"]["kind"], "logs");
    assert_eq!(first["meta"]["user"], "alice");
}
