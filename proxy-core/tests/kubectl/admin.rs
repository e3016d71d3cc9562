//! The admin listener with real kubectl: `/readyz` follows the recording store and the
//! drain, and every metric family moves under an exec, a log read, a denial, a rate-limit
//! refusal and a failed authentication.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use proxy_core::admin::{AdminServer, STORE_PROBE_INTERVAL};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::policy::curl_status;
use crate::support::*;

const POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: sre-debug
  subjects: {groups: [sre]}
  namespaces: [default]
  read: [pods]
  logs: {}
  exec:
    commands:
      - [cat, "*"]
      - [sh, -c, "*"]
    stdin: true
- name: sre-configmaps
  subjects: {groups: [sre]}
  namespaces: [default]
  read: [configmaps]
  rateLimit: {requestsPerSecond: 0.01, burst: 1}
"#;

/// Starts an admin listener for the testbed's proxy on a free port.
async fn admin(bed: &Testbed) -> SocketAddr {
    let admin = AdminServer::bind("127.0.0.1:0".parse().unwrap(), bed.proxy.clone())
        .await
        .expect("the admin listener binds");
    let addr = admin.local_addr().unwrap();
    tokio::spawn(admin.serve(std::future::pending()));
    addr
}

/// `GET path` on the admin listener: the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.0\r\nHost: admin\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

/// Polls `/readyz` (up to 20 s) until its code is `want`; returns the body.
async fn readyz_becomes(addr: SocketAddr, want: u16) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (code, body) = get(addr, "/readyz").await;
        if code == want {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz stayed {code} ({body}), wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn readyz_follows_the_store_and_the_drain() {
    let bed = testbed().await;
    let addr = admin(&bed).await;
    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".into()));
    let body = readyz_becomes(addr, 200).await;
    assert!(body.contains("recording store writable"), "{body}");

    // The store's directory becomes a plain file: nothing can be written under it.
    let store = bed.dir().join("recordings");
    let away = bed.dir().join("recordings.away");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::rename(&store, &away).unwrap();
    std::fs::write(&store, b"not a directory").unwrap();
    let started = tokio::time::Instant::now();
    let body = readyz_becomes(addr, 503).await;
    assert!(body.contains("recording store"), "{body}");
    assert!(started.elapsed() < STORE_PROBE_INTERVAL + Duration::from_secs(5));
    assert_eq!(get(addr, "/healthz").await.0, 200, "alive while not ready");
    // A session now cannot be stored: its chunk writes fail (and count as failed).
    let failed = |text: &str| {
        let labels = ["result=\"failed\""];
        sum(&parse(text), "kubewitness_recording_chunks_total", &labels)
    };
    let before = failed(&get(addr, "/metrics").await.1);
    let argv = ["exec", "web-0", "--", "cat", "/etc/hostname"];
    let _ = kubectl(&bed, Client::WebSocket, &argv).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while failed(&get(addr, "/metrics").await.1) <= before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed chunk write counted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // And back.
    std::fs::remove_file(&store).unwrap();
    std::fs::rename(&away, &store).unwrap();
    readyz_becomes(addr, 200).await;

    // Draining: not ready at once.
    bed.proxy.begin_drain();
    let (code, body) = get(addr, "/readyz").await;
    assert_eq!((code, body.as_str()), (503, "not ready: shutting down\n"));
}

/// Every sample of the scrape: the series (name and labels as written) to its value.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of the samples of metric `name` whose labels contain every one of `labels`.
fn sum(samples: &HashMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            let metric = series.split('{').next().unwrap_or("");
            metric == name && labels.iter().all(|l| series.contains(l))
        })
        .map(|(_, v)| v)
        .sum()
}

/// The largest value `name` took while `run` ran (polled every 20 ms).
async fn peak<F: std::future::Future>(addr: SocketAddr, name: &str, run: F) -> (f64, F::Output) {
    let mut run = std::pin::pin!(run);
    let mut peak = 0f64;
    loop {
        tokio::select! {
            out = &mut run => return (peak, out),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                let now = sum(&parse(&get(addr, "/metrics").await.1), name, &[]);
                peak = peak.max(now);
            }
        }
    }
}

/// A synthetic AWS access key id, assembled at run time.
fn aws_key() -> String {
    ["AK", "IA", "Q4W7E2R9T1Y5U3I8"].concat()
}

#[tokio::test]
async fn every_metric_moves_under_kubectl() {
    let bed = testbed_with(TestbedOptions {
        policy: Some(POLICY.into()),
        ..TestbedOptions::default()
    })
    .await;
    let addr = admin(&bed).await;
    let (code, text) = get(addr, "/metrics").await;
    assert_eq!(code, 200);
    let before = parse(&text);

    // An exec whose output carries a secret and lingers, watched while it runs.
    let script = format!("echo AWS_ACCESS_KEY_ID={}; sleep 1.5", aws_key());
    let argv = ["exec", "web-0", "--", "sh", "-c", &script];
    let exec = kubectl(&bed, Client::WebSocket, &argv);
    let (active, run) = peak(addr, "kubewitness_sessions_active", exec).await;
    run.ok();
    assert!(run.stdout_str().contains("[REDACTED:aws-access-key-id]"));
    assert!(active >= 1.0, "no session was counted active");
    let queue = {
        let exec = kubectl(&bed, Client::Spdy, &argv);
        let (queue, run) = peak(addr, "kubewitness_recording_queue_bytes", exec).await;
        run.ok();
        queue
    };
    assert!(queue > 0.0, "the recording queue never held a byte");
    let typed = ["exec", "-i", "web-0", "--", "cat", "-"];
    let typed = kubectl_stdin(&bed, Client::Spdy, &typed, b"typed\n".to_vec()).await;
    assert_eq!(typed.ok().stdout_str(), "typed\n");
    kubectl(&bed, Client::WebSocket, &["logs", "web-0"])
        .await
        .ok();
    // A denial, a refused token, and a rate limit (burst 1: the second read is refused).
    let denied = kubectl(&bed, Client::WebSocket, &["get", "secrets"]).await;
    assert_ne!(denied.code, Some(0));
    let stranger = bed.kubeconfig_for("stranger", "not-a-token").unwrap();
    let refused = kubectl_with(&bed, &stranger, Client::WebSocket, &["get", "pods"], None).await;
    assert_ne!(refused.code, Some(0));
    let path = "/api/v1/namespaces/default/configmaps";
    assert_eq!(curl_status(&bed, path).await.0, 200);
    assert_eq!(curl_status(&bed, path).await.0, 429);

    let after = parse(&get(addr, "/metrics").await.1);
    let moved = |name: &str, labels: &[&str]| {
        let (b, a) = (sum(&before, name, labels), sum(&after, name, labels));
        let mut seen: Vec<_> = after.iter().filter(|(k, _)| k.starts_with(name)).collect();
        seen.sort_by(|x, y| x.0.cmp(y.0));
        assert!(a > b, "{name}{labels:?} did not move: {b} -> {a}; {seen:?}");
    };
    moved(
        "kubewitness_sessions_total",
        &["kind=\"exec\"", "outcome=\"success\""],
    );
    moved("kubewitness_sessions_total", &["kind=\"logs\""]);
    moved(
        "kubewitness_session_bytes_total",
        &["channel=\"stdout\"", "direction=\"to_client\""],
    );
    moved(
        "kubewitness_session_bytes_total",
        &["channel=\"stdin\"", "direction=\"to_server\""],
    );
    moved(
        "kubewitness_policy_decisions_total",
        &["rule=\"sre-debug\"", "result=\"allow\""],
    );
    moved("kubewitness_policy_decisions_total", &["result=\"deny\""]);
    moved(
        "kubewitness_policy_decisions_total",
        &["rule=\"sre-configmaps\"", "result=\"limited\""],
    );
    moved(
        "kubewitness_redactions_total",
        &["rule=\"aws-access-key-id\""],
    );
    moved(
        "kubewitness_recording_chunks_total",
        &["result=\"written\""],
    );
    moved("kubewitness_store_write_seconds_count", &[]);
    moved(
        "kubewitness_upstream_request_seconds_count",
        &["kind=\"request\""],
    );
    moved(
        "kubewitness_upstream_request_seconds_count",
        &["kind=\"stream\""],
    );
    moved("kubewitness_rate_limited_total", &["limiter=\"policy\""]);
    moved("kubewitness_auth_failures_total", &["reason=\"invalid\""]);

    // The expiry gauges are set by whoever loads the certificate or refreshes the token:
    // loading the testbed's serving pair sets the certificate gauge.
    let pair = proxy_core::tls::ReloadingCert::load(
        &bed.dir().join("server.crt"),
        &bed.dir().join("server.key"),
    )
    .expect("the testbed's serving pair loads");
    let expiry = pair
        .not_after()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    bed.proxy.metrics().set_upstream_token_expiry(expiry - 1);
    let now = parse(&get(addr, "/metrics").await.1);
    let cert = sum(
        &now,
        "kubewitness_serving_certificate_expiry_timestamp_seconds",
        &[],
    );
    assert_eq!(cert, expiry as f64);
    assert!(
        sum(
            &now,
            "kubewitness_upstream_token_expiry_timestamp_seconds",
            &[]
        ) > 0.0
    );
}

/// The example alerting rules in `docs/OPERATIONS.md` load in promtool and use only
/// metrics kubewitness serves.
#[tokio::test]
async fn the_documented_alert_rules_load_and_name_served_metrics() {
    let guide = include_str!("../../../docs/OPERATIONS.md");
    let alerts = &guide[guide.find("## Alerts").expect("an Alerts section")..];
    let start = alerts.find("```yaml\n").expect("a YAML block") + "```yaml\n".len();
    let rules = &alerts[start..start + alerts[start..].find("```").expect("closed")];
    let served = proxy_core::admin::metrics().encode();
    for name in rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("kubewitness_"))
    {
        let family = name.trim_end_matches("_bucket");
        assert!(
            served.contains(&format!("# TYPE {family} ")),
            "{name} is not served"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yml");
    std::fs::write(&file, rules).unwrap();
    let out = tokio::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .await
        .expect("promtool runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("SUCCESS"), "{said}");
}
