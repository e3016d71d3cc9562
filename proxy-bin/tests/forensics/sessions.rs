//! `kubewitness sessions` lists what was recorded, filtered by user and start time.

use std::time::{Duration, SystemTime};

use kubewitness_sim::testbed::TestbedOptions;

use crate::bin::*;
use crate::support::*;

/// `sessions --store STORE -o json EXTRA…`: (id, row) per session.
async fn list(store: &str, extra: &[&str]) -> Vec<(String, serde_json::Value)> {
    let mut args = vec!["sessions", "--store", store, "-o", "json"];
    args.extend_from_slice(extra);
    let out = kubewitness(&args).await;
    out.ok();
    out.json()
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| (r["session"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

fn ids_of(rows: Vec<(String, serde_json::Value)>) -> Vec<String> {
    rows.into_iter().map(|(id, _)| id).collect()
}

#[tokio::test]
async fn sessions_lists_recorded_sessions_and_filters_by_user_and_time() {
    let groups = vec!["sre".to_string(), "oncall".to_string()];
    let bed = testbed_with(TestbedOptions {
        users: vec![("alice".into(), groups.clone()), ("bob".into(), groups)],
        ..TestbedOptions::default()
    })
    .await;
    kubectl(
        &bed,
        Client::WebSocket,
        &["exec", "web-0", "--", "echo", "hi"],
    )
    .await
    .ok();
    wait_sealed(&recordings(&bed), 1).await;
    // A moment strictly between the two sessions' starts.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let bob = &bed.callers[1];
    let bob_config = bed.kubeconfig_for("bob", &bob.token).unwrap();
    let pod = bed.sim.config().pods[0].name.clone();
    kubectl_with(&bed, &bob_config, Client::Spdy, &["logs", "-f", &pod], None)
        .await
        .ok();
    let ids = wait_sealed(&recordings(&bed), 2).await;
    let store = url(&recordings(&bed));

    let all = list(&store, &[]).await;
    let listed: Vec<&String> = all.iter().map(|(id, _)| id).collect();
    assert_eq!(listed, ids.iter().collect::<Vec<_>>());
    let (alice_row, bob_row) = (&all[0].1, &all[1].1);
    assert_eq!(alice_row["user"], "alice");
    assert_eq!(alice_row["kind"], "exec");
    assert_eq!(alice_row["pod"], "web-0");
    assert_eq!(alice_row["argv"], serde_json::json!(["echo", "hi"]));
    assert_eq!(alice_row["end"], "completed");
    assert_eq!(bob_row["user"], "bob");
    assert_eq!(bob_row["kind"], "logs");
    assert_eq!(bob_row["end"], "completed");

    assert_eq!(
        ids_of(list(&store, &["--user", "bob"]).await),
        [ids[1].clone()]
    );
    assert_eq!(
        ids_of(list(&store, &["--user", "alice"]).await),
        [ids[0].clone()]
    );
    assert!(list(&store, &["--user", "carol"]).await.is_empty());
    assert_eq!(ids_of(list(&store, &["--since", "1h"]).await), ids);
    assert_eq!(
        ids_of(list(&store, &["--since", &between]).await),
        [ids[1].clone()]
    );
    assert_eq!(
        ids_of(list(&store, &["--since", "2h", "--user", "alice"]).await),
        [ids[0].clone()]
    );

    // For people: a header and one line per session.
    let out = kubewitness(&["sessions", "--store", &store]).await;
    out.ok();
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("SESSION"), "{text}");
    assert!(lines[1].starts_with(&ids[0]) && lines[1].contains("alice"));
    assert!(lines[1].ends_with("echo hi"), "{text}");
    assert!(lines[2].starts_with(&ids[1]) && lines[2].contains("bob"));

    // A --since that is neither a duration nor a time is bad usage.
    let bad = kubewitness(&["sessions", "--store", &store, "--since", "yesterday-ish"]).await;
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("--since"), "{}", bad.stderr);
}
