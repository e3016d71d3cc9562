//! `kubewitness export`: the text export is exactly what kubectl printed, redactions
//! included; the JSON lines export parses.

use crate::bin::*;
use crate::support::*;

/// A synthetic AWS access key id, assembled at run time.
fn aws_key() -> String {
    ["AK", "IA", "Q4W7E1R9T3Y5U8I2"].concat()
}

#[tokio::test]
async fn export_text_is_exactly_what_kubectl_printed() {
    let bed = testbed().await;
    let key = aws_key();
    let file = bed.dir().join("app.env");
    let body: String = (0..50).map(|i| format!("setting {i} = on\n")).collect();
    std::fs::write(
        &file,
        format!("booting\n{body}AWS_ACCESS_KEY_ID={key}\nready\n"),
    )
    .unwrap();
    let path = file.display().to_string();
    let exec = kubectl(&bed, Client::Spdy, &["exec", "web-0", "--", "cat", &path]).await;
    exec.ok();
    let printed = exec.stdout_str();
    assert!(printed.contains("AWS_ACCESS_KEY_ID=[REDACTED:aws-access-key-id]\n"));
    assert!(!printed.contains(&key), "the key reached kubectl");
    let pod = bed.sim.config().pods[0].name.clone();
    let logs = kubectl(&bed, Client::WebSocket, &["logs", "-f", &pod]).await;
    logs.ok();
    assert!(logs.stdout.iter().filter(|b| **b == b'\n').count() > 1);

    let dir = recordings(&bed);
    let ids = wait_sealed(&dir, 2).await;
    let store = url(&dir);
    for (id, run) in ids.iter().zip([&exec, &logs]) {
        let out = export(&store, id, "text").await;
        out.ok();
        assert_same_bytes(&out.stdout, &run.stdout);
    }

    // JSON lines: every line parses; the start event, the data as the client saw it, and
    // the finding (rule and position, never the secret).
    let out = export(&store, &ids[0], "jsonl").await;
    out.ok();
    let text = out.text();
    assert!(!text.contains(&key), "the export holds the secret");
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events[0]["event"], "start");
    assert_eq!(events[0]["meta"]["user"], "alice");
    assert_eq!(events[0]["meta"]["session"], ids[0].as_str());
    let stdout: String = events
        .iter()
        .filter(|e| e["event"] == "data" && e["channel"] == "stdout")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(stdout, printed);
    let finding = events
        .iter()
        .find(|e| e["event"] == "finding")
        .unwrap_or_else(|| panic!("no finding: {text}"));
    assert_eq!(finding["finding"]["rule"], "aws-access-key-id");

    // No TTY, no cast; an unknown session is an error, not an empty export.
    let cast = export(&store, &ids[0], "asciicast").await;
    assert_eq!(cast.code, Some(1));
    assert!(cast.stderr.contains("no TTY"), "{}", cast.stderr);
    let none = kubewitness(&[
        "export",
        "--store",
        &store,
        "--session",
        "01J0000000000000000000000X",
    ])
    .await;
    assert_eq!(none.code, Some(1), "{}", none.text());
    assert!(none.stdout.is_empty());
}
