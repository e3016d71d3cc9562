//! SIGKILL mid-session, real processes: `kubewitness demo` records a streaming `kubectl
//! exec`, is killed with SIGKILL, and on restart uploads what its spool held and seals the
//! session `interrupted`; `verify` says so (exit 0: an untampered interrupted record is
//! intact) and the export holds everything that was stored before the kill.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::bin::*;
use crate::support::{KUBECTL, assert_same_bytes};

/// The longest a demo may take to start (and, on restart, recover).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts `kubewitness demo --dir DIR` on a free port and waits for its banner.
async fn start_demo(dir: &Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubewitness"))
        .args(["demo", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the demo starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let banner = tokio::time::timeout(START_TIMEOUT, async {
        while let Some(line) = lines.next_line().await.expect("reads the demo's stdout") {
            if line.starts_with("kubewitness demo:") {
                return line;
            }
        }
        panic!("the demo exited before its banner");
    })
    .await
    .expect("the demo starts in time");
    assert!(banner.contains("https://127.0.0.1:"), "{banner}");
    // Keep draining its stdout so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// Chunk objects of the one session under `recordings` (not `digests/` or `audit/`), and
/// its id.
fn stored_chunks(recordings: &Path) -> Option<(String, usize)> {
    let session = std::fs::read_dir(recordings)
        .ok()?
        .flatten()
        .find(|e| e.file_name().len() == 26)?;
    let n = std::fs::read_dir(session.path())
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".chunk"))
        .count();
    Some((session.file_name().to_string_lossy().into_owned(), n))
}

#[tokio::test]
async fn a_sigkilled_demo_recovers_and_seals_the_session_interrupted() {
    assert!(Path::new(KUBECTL).exists(), "{KUBECTL} is required");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let recordings = dir.join("recordings");
    let store = url(&recordings);
    let mut demo = start_demo(dir).await;

    // A long, steady stream; bounded, so the process the simulator started ends by itself
    // once its parent is gone.
    let script = "i=0; while [ $i -lt 300 ]; do echo \"line $i of a long stream\"; i=$((i+1)); sleep 0.05; done";
    let mut kubectl = Command::new(KUBECTL)
        .args(["exec", "web-0", "--", "sh", "-c", script])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl starts");
    let printed = Arc::new(Mutex::new(Vec::new()));
    let sink = printed.clone();
    let mut stdout = kubectl.stdout.take().expect("piped");
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });

    // Wait until output has been cut into stored chunks beyond the first (the start event).
    let id = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Some((id, n)) = stored_chunks(&recordings)
                && n >= 3
            {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("chunks are stored while the session runs");
    let stored_before = export(&store, &id, "text").await.ok().stdout.clone();
    assert!(!stored_before.is_empty(), "stored chunks hold output");

    demo.start_kill().expect("SIGKILL");
    demo.wait().await.unwrap();
    // kubectl sees its connection drop.
    let status = tokio::time::timeout(Duration::from_secs(10), kubectl.wait())
        .await
        .expect("kubectl ends when the proxy dies")
        .unwrap();
    assert!(!status.success(), "kubectl must not report success");
    reader.await.unwrap();
    let printed = printed.lock().unwrap().clone();
    assert!(
        !dir.join("recordings").join(&id).join("seal").exists(),
        "sealed before the restart"
    );

    // Restart on the same directory: recovery uploads the spool and seals the session.
    let _demo = start_demo(dir).await;
    assert!(recordings.join(&id).join("seal").exists(), "not sealed");
    assert!(
        !dir.join("spool").join(&id).exists(),
        "the spool was not emptied"
    );

    let public = dir.join("recording.pub").display().to_string();
    let out = kubewitness(&["verify", "--store", &store, "--public-key", &public]).await;
    out.ok();
    assert!(
        out.text().starts_with(&format!("{id}  ok (interrupted)")),
        "{}",
        out.text()
    );
    let json = kubewitness(&["verify", "--store", &store, "-o", "json"]).await;
    json.ok();
    let json = json.json();
    let report = &json["sessions"][0];
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["endReason"], "interrupted");
    // The restart wrote the digest the kill missed (after the first run's start-up digest):
    // it lists the interrupted session, says it was written by recovery, and the chain
    // verifies.
    assert_eq!(json["findings"], serde_json::json!([]), "{json}");
    assert_eq!(json["digests"], 2, "{json}");
    let instance = json["instances"][0]
        .as_str()
        .expect("an instance")
        .to_string();
    let digest =
        std::fs::read_to_string(recordings.join(format!("digests/{instance}/0000000001.digest")))
            .expect("the recovery digest");
    let body: serde_json::Value = serde_json::from_str(digest.lines().next().unwrap()).unwrap();
    assert_eq!(body["recovered"], true, "{body}");
    assert_eq!(body["sessions"][0]["session"], id.as_str(), "{body}");
    // The decisions of the killed run (kubectl's exec was allowed) are in its audit segment.
    assert!(body["audit"]["session"].is_string(), "{body}");

    // Everything stored before the kill is in the export, and nothing kubectl did not print.
    let exported = export(&store, &id, "text").await.ok().stdout.clone();
    assert!(
        exported.starts_with(&stored_before),
        "the export lost stored bytes: {} < {}",
        exported.len(),
        stored_before.len()
    );
    // kubectl and the record agree on every byte both have (a reset connection may cost
    // kubectl its last unread bytes; a chunk may be stored a moment before its bytes are
    // printed).
    let common = exported.len().min(printed.len());
    assert_same_bytes(&exported[..common], &printed[..common]);
    assert!(
        common >= stored_before.len(),
        "kubectl printed less than was stored before the kill: {} < {}",
        common,
        stored_before.len()
    );
}
