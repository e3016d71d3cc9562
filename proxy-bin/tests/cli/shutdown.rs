//! `kubewitness serve` on SIGTERM, as a Kubernetes rollout stops it: readiness goes false,
//! new connections are refused, a running exec finishes within the grace period, one that
//! runs past it ends with a clear Status, every recording is sealed and verifies, and the
//! process exits 0. Its log, written to a pipe, is JSON lines without colour codes.

use std::time::Duration;

use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use kubewitness_test_support::kubectl::{Client, kubectl_with, testbed_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::serve::{Served, free_port};

const POLICY: &str = "apiVersion: kubewitness/v1\nkind: Policy\nrules:\n\
- name: sre-exec\n  subjects: {groups: [sre]}\n  namespaces: [default]\n  read: [pods]\n  \
exec:\n    commands:\n      - [sh, -c, \"*\"]\n";

/// A testbed, and `kubewitness serve` in front of its simulator with its own recording
/// store (`recordings-serve`), an admin listener (its port) and `grace`.
async fn serve(grace: &str) -> (Testbed, Served, u16) {
    let bed = testbed_with(TestbedOptions {
        policy: Some(POLICY.into()),
        ..TestbedOptions::default()
    })
    .await;
    let admin = free_port();
    let d = bed.dir();
    let extra = format!(
        "recording: {{store: 'file://{store}', spoolDir: {spool}, signingKey: {key}, \
         instance: serve}}\nadmin: {{listen: 127.0.0.1:{admin}}}\nshutdownGrace: {grace}\n",
        store = d.join("recordings-serve").display(),
        spool = d.join("spool-serve").display(),
        key = d.join("recording.key").display(),
    );
    let served = Served::start_with(&bed, &extra).await;
    (bed, served, admin)
}

/// `GET path` on the admin listener: the status code and body, or `None` when refused.
async fn admin_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    tcp.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.ok()?;
    let code = raw.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, raw.split_once("\r\n\r\n")?.1.to_string()))
}

/// Sends SIGTERM once the session runs, then checks what a rollout relies on while it
/// drains: `/readyz` 503 and the main port refusing connections.
async fn terminate_while_running(served: &mut Served, admin: u16) {
    served.expect_log("session recorded").await;
    let (code, body) = admin_get(admin, "/readyz").await.expect("admin answers");
    assert_eq!(code, 200, "{body}");
    served.signal("-TERM");
    served.expect_log("shutting down").await;
    let (code, body) = admin_get(admin, "/readyz")
        .await
        .expect("admin answers while draining");
    assert_eq!((code, body.as_str()), (503, "not ready: shutting down\n"));
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", served.port)).await;
    assert!(
        refused.is_err(),
        "new connections are refused while draining"
    );
}

/// Waits for the process to exit (within `within`) and returns its exit code.
async fn exit_code(served: &mut Served, within: Duration) -> Option<i32> {
    let status = tokio::time::timeout(within, served.child.wait())
        .await
        .expect("kubewitness exits in time")
        .expect("waiting works");
    status.code()
}

/// Runs `kubewitness verify` over the serve store; asserts every session verifies and
/// returns how many there were.
async fn verify_all(bed: &Testbed) -> usize {
    let store = format!("file://{}", bed.dir().join("recordings-serve").display());
    let key = bed.dir().join("recording.pub");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubewitness"))
        .args(["verify", "--store", &store, "--public-key"])
        .arg(&key)
        .args(["-o", "json"])
        .output()
        .await
        .expect("kubewitness verify runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&text).expect("a JSON report");
    let reports = report["sessions"].as_array().expect("a list of sessions");
    for r in reports {
        assert_eq!(r["intact"], true, "{r}");
    }
    reports.len()
}

/// Every logged line is a JSON object and no byte of the log is an ESC.
fn assert_json_log(served: &Served) {
    let lines = served.lines.lock().unwrap();
    assert!(!lines.is_empty());
    for line in lines.iter() {
        assert!(
            !line.contains('\u{1b}'),
            "a colour code in the log: {line:?}"
        );
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
}

#[tokio::test]
async fn sigterm_lets_a_running_exec_finish_and_seals_its_recording() {
    let (bed, mut served, admin) = serve("20s").await;
    let kubeconfig = served.kubeconfig(&bed, "alice", &bed.callers[0].token);
    let argv = ["exec", "web-0", "--", "sh", "-c", "sleep 2; echo finished"];
    let exec = kubectl_with(&bed, &kubeconfig, Client::WebSocket, &argv, None);
    let (run, ()) = tokio::join!(exec, terminate_while_running(&mut served, admin));
    let run = run.ok();
    assert_eq!(run.stdout_str(), "finished\n");
    assert_eq!(
        exit_code(&mut served, Duration::from_secs(20)).await,
        Some(0)
    );
    assert_eq!(verify_all(&bed).await, 1);
    let log = served.lines.lock().unwrap().join("\n");
    assert!(log.contains("drained"), "{log}");
    drop(log);
    assert_json_log(&served);
}

#[tokio::test]
async fn a_session_past_the_grace_period_ends_with_a_status_and_a_sealed_recording() {
    let (bed, mut served, admin) = serve("1s").await;
    let kubeconfig = served.kubeconfig(&bed, "alice", &bed.callers[0].token);
    let argv = ["exec", "web-0", "--", "sh", "-c", "echo started; sleep 60"];
    let exec = kubectl_with(&bed, &kubeconfig, Client::WebSocket, &argv, None);
    let started = tokio::time::Instant::now();
    let (run, ()) = tokio::join!(exec, terminate_while_running(&mut served, admin));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "ended long before sleep 60"
    );
    assert_ne!(run.code, Some(0), "ended by shutdown is not a success");
    assert_eq!(run.stdout_str(), "started\n");
    assert!(
        run.stderr.contains("kubewitness is shutting down"),
        "{}",
        run.stderr
    );
    assert_eq!(
        exit_code(&mut served, Duration::from_secs(20)).await,
        Some(0)
    );
    assert_eq!(verify_all(&bed).await, 1);
    let log = served.lines.lock().unwrap().join("\n");
    assert!(log.contains("shutdown grace period over"), "{log}");
}
