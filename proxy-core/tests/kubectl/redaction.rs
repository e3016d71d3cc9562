//! Secrets in exec output and logs are masked before kubectl sees them.

use crate::support::*;

/// A synthetic AWS access key id, assembled at run time.
fn aws_key() -> String {
    ["AK", "IA", "Z7Q3W5E8R2T4Y6U1"].concat()
}

/// A synthetic PEM private key block, assembled at run time.
fn pem_block() -> String {
    let line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7".repeat(2);
    let body: String = (0..10).map(|i| format!("{}\n", &line[i..i + 64])).collect();
    format!(
        "-----BEGIN {k}-----\n{body}-----END {k}-----\n",
        k = ["PRIVATE", "KEY"].join(" ")
    )
}

#[tokio::test]
async fn exec_output_with_an_aws_key_and_a_pem_block_is_redacted() {
    let bed = testbed().await;
    let key = aws_key();
    let pem = pem_block();
    let file = bed.dir().join("leaky.txt");
    std::fs::write(
        &file,
        format!("booting\nAWS_ACCESS_KEY_ID={key}\n{pem}ready\n"),
    )
    .unwrap();
    let path = file.display().to_string();
    for client in BOTH {
        let run = kubectl(&bed, client, &["exec", "web-0", "--", "cat", &path]).await;
        run.ok();
        let out = run.stdout_str();
        assert!(!out.contains(&key), "{client:?}: the key leaked: {out}");
        assert!(
            !out.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
            "{client:?}: the key block leaked"
        );
        assert!(
            out.contains("[REDACTED:aws-access-key-id]"),
            "{client:?}: {out}"
        );
        assert!(out.contains("[REDACTED:private-key]"), "{client:?}: {out}");
        assert!(
            out.starts_with("booting\n") && out.ends_with("ready\n"),
            "{client:?}: {out}"
        );
    }
    // The same through stderr, split by the shell into many small writes.
    let script = format!("for w in $(cat {path}); do printf '%s\\n' \"$w\" >&2; done");
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["exec", "web-0", "--", "sh", "-c", &script],
    )
    .await;
    run.ok();
    assert!(!run.stderr.contains(&key), "the key leaked on stderr");
    // The words did reach stderr, the key masked.
    for word in [
        "booting",
        "AWS_ACCESS_KEY_ID=[REDACTED:aws-access-key-id]",
        "ready",
    ] {
        assert!(run.stderr.contains(word), "{word}: {}", run.stderr);
    }
}

#[tokio::test]
async fn findings_are_recorded_without_the_secret() {
    let bed = testbed().await;
    let key = aws_key();
    let store = record_store(&bed);
    let before = store.sessions().await.unwrap();
    kubectl(
        &bed,
        Client::Spdy,
        &["exec", "web-0", "--", "echo", &format!("id={key}")],
    )
    .await
    .ok();
    // kubectl exits on the status; the seal comes after the last chunk is stored.
    let (id, report) = new_sealed_session(&store, &seal_key(&bed), &before).await;
    assert!(report.intact, "{:?}", report.problems);
    // Decode the recording: it holds what the client saw and a finding, never the secret.
    let mut events = Vec::new();
    proxy_core::record::export::jsonl(&store, &id, &mut events)
        .await
        .unwrap();
    let events = String::from_utf8(events).unwrap();
    assert!(!events.contains(&key), "the recording holds the secret");
    assert!(
        events.contains(r#""event":"finding""#) && events.contains("aws-access-key-id"),
        "no finding recorded: {events}"
    );
    let (mut text, mut errors) = (Vec::new(), Vec::new());
    proxy_core::record::export::text(&store, &id, &mut text, &mut errors)
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "id=[REDACTED:aws-access-key-id]\n",
        "{events}"
    );
}
