//! `kubewitness verify`: exit 0 and `ok` for intact sessions; non-zero and the problem named
//! for each kind of tampering, done to a copy of the file store.

use std::path::Path;

use proxy_core::record::SealSigner;
use proxy_core::record::store::{chunk_name, seal_name};

use crate::bin::*;
use crate::support::*;

/// Runs `verify` on `session` in the store at `dir` (text and JSON); returns the text run and
/// the session's JSON report.
async fn verify(dir: &Path, session: &str, extra: &[&str]) -> (Out, serde_json::Value) {
    let store = url(dir);
    let mut args = vec!["verify", "--store", &store, "--session", session];
    args.extend_from_slice(extra);
    let text = kubewitness(&args).await;
    args.extend_from_slice(&["-o", "json"]);
    let json = kubewitness(&args).await;
    assert_eq!(json.code, text.code, "text and JSON agree on the exit code");
    let reports = json.json();
    assert_eq!(reports.as_array().map(Vec::len), Some(1), "{reports}");
    (text, reports[0].clone())
}

/// Asserts `verify` fails naming `problem` in text, and `kind` first in JSON.
#[track_caller]
fn assert_detected(
    case: &str,
    (out, report): &(Out, serde_json::Value),
    problem: &str,
    kind: &str,
) {
    assert_eq!(out.code, Some(1), "{case}: {}", out.text());
    assert!(out.text().contains(problem), "{case}: {}", out.text());
    assert!(
        out.stderr.contains("1 of 1 sessions failed verification"),
        "{case}: {}",
        out.stderr
    );
    assert_eq!(report["intact"], false, "{case}");
    assert_eq!(report["problems"][0]["kind"], kind, "{case}: {report}");
}

/// Flips one bit in the middle of an object, as an attacker with disk access would.
fn flip_a_byte(object: &Path) {
    make_writable(object);
    let mut bytes = std::fs::read(object).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(object, &bytes).unwrap();
}

/// Asserts `verify` fails and its text names `problem`.
#[track_caller]
fn assert_fails(case: &str, (out, report): &(Out, serde_json::Value), problem: &str) {
    assert_eq!(out.code, Some(1), "{case}: {}", out.text());
    assert!(out.text().contains(problem), "{case}: {}", out.text());
    assert_eq!(report["intact"], false, "{case}");
}

#[tokio::test]
async fn verify_passes_intact_sessions_and_names_each_tampering() {
    let bed = testbed().await;
    // Enough output for several chunks (1 MiB each by default).
    kubectl(
        &bed,
        Client::WebSocket,
        &["exec", "web-0", "--", "seq", "1", "700000"],
    )
    .await
    .ok();
    let dir = recordings(&bed);
    let id = wait_sealed(&dir, 1).await.remove(0);
    let public = bed.dir().join("recording.pub").display().to_string();

    // Intact: without a pinned key, with the signer's key, and every session at once.
    let (out, report) = verify(&dir, &id, &[]).await;
    out.ok();
    assert!(
        out.text().starts_with(&format!("{id}  ok  ")),
        "{}",
        out.text()
    );
    assert!(out.text().contains("end=completed"), "{}", out.text());
    assert!(out.text().contains("(not pinned)"), "{}", out.text());
    assert_eq!(report["intact"], true);
    assert_eq!(report["endReason"], "completed");
    let chunks = report["chunks"].as_u64().unwrap();
    assert!(chunks >= 4, "{chunks} chunks");
    let (out, report) = verify(&dir, &id, &["--public-key", &public]).await;
    out.ok();
    assert!(out.text().contains("(pinned)"), "{}", out.text());
    assert_eq!(report["pinned"], true);
    kubewitness(&["verify", "--store", &url(&dir)]).await.ok();

    let tampered = tempfile::tempdir().unwrap();
    let copy = |case: &str| {
        let to = tampered.path().join(case);
        copy_store(&dir, &to);
        to
    };

    // A flipped byte in chunk 2.
    let d = copy("flip");
    flip_a_byte(&d.join(chunk_name(&id, 2)));
    let r = verify(&d, &id, &[]).await;
    assert_detected("flip", &r, "modified chunk 2", "modifiedChunk");
    assert_eq!(r.1["problems"][0]["chunk"], 2);

    // A deleted chunk.
    let d = copy("delete");
    std::fs::remove_file(d.join(chunk_name(&id, 1))).unwrap();
    let r = verify(&d, &id, &[]).await;
    assert_detected("delete", &r, "missing chunk 1", "missingChunk");
    assert_eq!(r.1["problems"][0]["chunk"], 1);

    // A chunk added after the seal (a copy of the last one, under the next name).
    let d = copy("append");
    let last = std::fs::read(d.join(chunk_name(&id, chunks - 1))).unwrap();
    std::fs::write(d.join(chunk_name(&id, chunks)), last).unwrap();
    let r = verify(&d, &id, &[]).await;
    assert_detected("append", &r, "extra data after seal", "extraAfterSeal");

    // Two chunks swapped.
    let d = copy("swap");
    let (one, two) = (d.join(chunk_name(&id, 1)), d.join(chunk_name(&id, 2)));
    let (a, b) = (std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap());
    make_writable(&one);
    make_writable(&two);
    std::fs::write(&one, b).unwrap();
    std::fs::write(&two, a).unwrap();
    let r = verify(&d, &id, &[]).await;
    assert_fails("swap", &r, "reordered");

    // The last chunk truncated.
    let d = copy("truncate");
    let victim = d.join(chunk_name(&id, chunks - 1));
    make_writable(&victim);
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() - 1]).unwrap();
    let r = verify(&d, &id, &[]).await;
    assert_fails("truncate", &r, &format!("modified chunk {}", chunks - 1));

    // The seal deleted: the record can no longer be told from a session still running.
    let d = copy("unseal");
    std::fs::remove_file(d.join(seal_name(&id))).unwrap();
    let r = verify(&d, &id, &[]).await;
    assert_detected("unseal", &r, "unsealed", "unsealed");

    // A flipped byte in the seal.
    let d = copy("seal");
    flip_a_byte(&d.join(seal_name(&id)));
    let r = verify(&d, &id, &[]).await;
    assert_fails("seal", &r, "seal");

    // A pinned key that is not the signer's.
    let other = tampered.path().join("other.pub");
    std::fs::write(&other, SealSigner::from_seed(&[7; 32]).public_key_pem()).unwrap();
    let r = verify(&dir, &id, &["--public-key", &other.display().to_string()]).await;
    assert_detected("pin", &r, "unknown key", "unknownKey");
    assert_eq!(r.1["pinned"], false);
}
