//! Every gateway request leaves an audit line and a signed `metrics` session that verifies.

use std::time::Duration;

use kubewitness_sim::testbed::Testbed;
use proxy_core::channel::Channel;
use proxy_core::record::seal::load_public_key;
use proxy_core::record::{Event, Problem, RecordStore, chunk, verify_session};

use crate::support::*;

fn store(bed: &Testbed) -> RecordStore {
    let rc = bed.config.recording.as_ref().expect("the testbed records");
    RecordStore::open(&rc.store, &[], None).expect("the store opens")
}

/// The audit lines of gateway requests.
fn promql_audit(bed: &Testbed) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(bed.dir().join("audit.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["verb"] == "promql")
        .collect()
}

#[tokio::test]
async fn a_query_is_audited_and_recorded_as_a_verifiable_metrics_session() {
    let bed = testbed().await;
    let query = r#"sum(rate(http_requests_total{status=~"5.."}[5m])) by (service)"#;
    let a = post(&bed, 0, "query_range", &range_form(query, 30, "15")).await;
    assert_eq!(a.status, 200, "{}", a.json);
    let denied = post(&bed, 0, "query", &[("query", r#"{__name__=~".+"}"#.into())]).await;
    denied.error(422);

    let lines = promql_audit(&bed);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let ok = &lines[0];
    assert_eq!(ok["user"], "alice");
    assert_eq!(ok["endpoint"], "query_range");
    assert_eq!(ok["query"], query);
    assert!(
        ok["rewritten"]
            .as_str()
            .unwrap()
            .contains(r#"namespace=~"shop|payments-.*""#)
    );
    assert_eq!(ok["step"], 15.0);
    assert!(ok["series"].as_u64().unwrap() >= 3, "{ok}");
    assert!(ok["bytes"].as_u64().unwrap() > 100, "{ok}");
    assert_eq!(
        (ok["decision"].as_str(), ok["rule"].as_str()),
        (Some("allow"), Some("sre-metrics"))
    );
    assert_eq!(lines[1]["decision"], "deny");
    assert!(
        lines[1]["reason"]
            .as_str()
            .unwrap()
            .contains("names no metric")
    );

    let store = store(&bed);
    let key = load_public_key(&bed.dir().join("recording.pub")).expect("public key");
    let ids = sessions(&store, 2).await;
    for id in &ids {
        let report = sealed(&store, &key, id).await;
        assert!(
            report.intact && report.pinned,
            "{id}: {:?}",
            report.problems
        );
        assert_eq!(report.end_reason.as_deref(), Some("completed"));
    }
    // Both are `metrics` sessions; the allowed one holds exactly the answer the caller got.
    let mut answers = Vec::new();
    for id in &ids {
        let (kind, stdout) = contents(&store, id).await;
        assert_eq!(kind, "metrics");
        answers.push(serde_json::from_slice::<serde_json::Value>(&stdout).expect("json"));
    }
    assert!(answers.contains(&a.json), "{answers:?}");
    assert!(answers.contains(&denied.json), "{answers:?}");
}

async fn sessions(store: &RecordStore, n: usize) -> Vec<String> {
    for _ in 0..200 {
        let ids = store.sessions().await.expect("lists");
        if ids.len() >= n {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} sessions recorded");
}

async fn sealed(
    store: &RecordStore,
    key: &proxy_core::record::VerifyingKey,
    id: &str,
) -> proxy_core::record::SessionReport {
    for _ in 0..200 {
        let r = verify_session(store, id, Some(key), &|| {}).await;
        if !r.problems.contains(&Problem::Unsealed) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("session {id} was not sealed");
}

/// The session kind and its stdout bytes.
async fn contents(store: &RecordStore, id: &str) -> (String, Vec<u8>) {
    let (mut kind, mut out) = (String::new(), Vec::new());
    for seq in 0.. {
        let Ok(obj) = store
            .get(&proxy_core::record::store::chunk_name(id, seq))
            .await
        else {
            break;
        };
        let (_, events) = chunk::decode(&obj).expect("a chunk");
        for e in events {
            match e.event {
                Event::Start(meta) => kind = meta.kind,
                Event::Data {
                    channel: Channel::Stdout,
                    bytes,
                } => out.extend_from_slice(&bytes),
                _ => {}
            }
        }
    }
    (kind, out)
}
