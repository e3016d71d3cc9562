//! Each client transport against an upstream that only speaks the other one, and a TTY
//! with a resize.

use std::time::Duration;

use kubewitness_sim::SimConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

fn upstream_exec_methods(bed: &kubewitness_sim::testbed::Testbed) -> Vec<String> {
    bed.sim
        .requests()
        .iter()
        .filter(|r| r.uri.path().ends_with("/exec"))
        .map(|r| r.method.to_string())
        .collect()
}

#[tokio::test]
async fn websocket_client_against_an_spdy_only_upstream() {
    let bed = testbed_with_sim(SimConfig {
        websocket: false,
        ..SimConfig::default()
    })
    .await;
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["exec", "web-0", "--", "sh", "-c", "echo via-spdy; exit 4"],
    )
    .await;
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    assert_eq!(run.stdout_str(), "via-spdy\n");
    // kubewitness tried WebSocket (GET), was refused, and re-originated over SPDY (POST).
    assert_eq!(upstream_exec_methods(&bed), ["GET", "POST"]);
}

#[tokio::test]
async fn spdy_client_against_a_websocket_only_upstream() {
    let bed = testbed_with_sim(SimConfig {
        spdy: false,
        ..SimConfig::default()
    })
    .await;
    let input = noise(1 << 20, 3);
    let run = kubectl_stdin(
        &bed,
        Client::Spdy,
        &["exec", "-i", "web-0", "--", "cat"],
        input.clone(),
    )
    .await;
    run.ok();
    assert_same_bytes(&run.stdout, &input);
    assert_eq!(upstream_exec_methods(&bed), ["GET"]);
}

/// Runs kubectl in a pseudo-terminal of 24×80. Once `resize_after` shows, resizes it to
/// 40×120 and presses Enter every 200 ms until `done_when` shows (the resize travels on its
/// own stream, so a keypress may overtake it), then sends ^D. Returns what kubectl printed.
async fn kubectl_in_pty(
    bed: &kubewitness_sim::testbed::Testbed,
    client: Client,
    args: &[&str],
    resize_after: &str,
    done_when: &str,
) -> String {
    let (mut pty, pts) = pty_process::open().expect("pty");
    pty.resize(pty_process::Size::new(24, 80))
        .expect("initial size");
    let mut child = pty_process::Command::new(KUBECTL)
        .args(args)
        .env_clear()
        .envs(kubectl_env(bed, &bed.kubeconfig, client))
        .spawn(pts)
        .expect("kubectl starts in a pty");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let (mut resized, mut done) = (false, false);
    let deadline = tokio::time::Instant::now() + KUBECTL_TIMEOUT;
    let mut poke = tokio::time::interval(Duration::from_millis(200));
    loop {
        let n = tokio::select! {
            n = pty.read(&mut buf) => n,
            _ = poke.tick(), if resized && !done => {
                pty.write_all(b"\r").await.expect("write");
                continue;
            }
            _ = tokio::time::sleep_until(deadline) => panic!("{client:?}: tty session timed out: {}", String::from_utf8_lossy(&seen)),
        };
        match n {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&seen);
        if !resized && text.contains(resize_after) {
            resized = true;
            pty.resize(pty_process::Size::new(40, 120)).expect("resize");
        }
        if resized && !done && text.contains(done_when) {
            done = true;
            // End of input: the remote `read` fails and the shell exits.
            pty.write_all(b"\x04").await.expect("write");
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("kubectl exits")
        .expect("wait");
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(status.success(), "kubectl failed in the tty: {text}");
    text
}

#[tokio::test]
async fn tty_sessions_carry_the_terminal_size_and_its_changes() {
    let bed = testbed().await;
    for client in BOTH {
        let text = kubectl_in_pty(
            &bed,
            client,
            &[
                "exec",
                "-it",
                "web-0",
                "--",
                "sh",
                "-c",
                "stty size; echo READY; while read x; do stty size; done",
            ],
            "READY",
            "40 120",
        )
        .await;
        assert!(text.contains("24 80"), "{client:?}: {text}");
        assert!(
            text.contains("40 120"),
            "{client:?}: resize did not arrive: {text}"
        );
    }
}
