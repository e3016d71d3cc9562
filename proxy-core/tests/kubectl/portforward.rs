//! `kubectl port-forward` through kubewitness: bytes both ways over kubectl's default
//! transport and over SPDY, concurrent connections, impersonation upstream, one verified
//! recording per connection, kubelet errors shown by kubectl, and the redaction guard.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kubewitness_sim::SimConfig;
use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use proxy_core::record::export;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::support::*;

/// The testbed's caller (alice, group sre) may read pods and port-forward, unredacted.
const POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: oncall-portforward
  subjects: {groups: [sre]}
  namespaces: [default]
  read: [pods]
  portForward: true
  redact: false
"#;

/// The same rule, but redacting: its port-forward must be denied.
const REDACTING: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: oncall-redacting
  subjects: {groups: [sre]}
  namespaces: [default]
  read: [pods]
  portForward: true
"#;

/// The pod port the echo target is mapped to.
const ECHO_PORT: u16 = 7000;
/// A pod port nothing is mapped to.
const UNMAPPED_PORT: u16 = 7001;

/// kubectl's port-forward transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    /// kubectl 1.32's default: SPDY inside the WebSocket tunnel.
    Default,
    /// `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`.
    Spdy,
}

const TRANSPORTS: [Transport; 2] = [Transport::Default, Transport::Spdy];

/// A TCP echo server; returns its address and a queue that gets `()` each time one of its
/// connections ends.
async fn echo_server() -> (SocketAddr, mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("address");
    let (ended, ends) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let ended = ended.clone();
            tokio::spawn(async move {
                let (mut rd, mut wr) = sock.split();
                let _ = tokio::io::copy(&mut rd, &mut wr).await;
                let _ = wr.shutdown().await;
                let _ = ended.send(());
            });
        }
    });
    (addr, ends)
}

async fn bed(policy: &str) -> Testbed {
    bed_and_target(policy).await.0
}

/// A testbed whose `web-0:ECHO_PORT` is an echo server, and that server's end queue.
async fn bed_and_target(policy: &str) -> (Testbed, mpsc::UnboundedReceiver<()>) {
    let (echo, ends) = echo_server().await;
    let mut sim = SimConfig::default();
    sim.port_forwards
        .insert(("default/web-0".into(), ECHO_PORT), echo);
    let bed = testbed_with(TestbedOptions {
        sim,
        policy: Some(policy.into()),
        ..TestbedOptions::default()
    })
    .await;
    (bed, ends)
}

/// A running `kubectl port-forward`.
struct Forward {
    child: Child,
    /// The local port kubectl listens on.
    local: u16,
    stderr: Arc<Mutex<String>>,
}

impl Forward {
    fn stderr(&self) -> String {
        self.stderr.lock().expect("not poisoned").clone()
    }
}

/// Starts `kubectl port-forward web-0 :REMOTE` and waits until it listens.
async fn port_forward(bed: &Testbed, transport: Transport, remote: u16) -> Forward {
    let mut cmd = Command::new(KUBECTL);
    cmd.args(["port-forward", "web-0", &format!(":{remote}")])
        .args(["--address", "127.0.0.1"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", bed.dir())
        .env("KUBECONFIG", &bed.kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if transport == Transport::Spdy {
        cmd.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false");
    }
    let mut child = cmd.spawn().expect("kubectl starts");
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut err_lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let sink = stderr.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = err_lines.next_line().await {
            let mut s = sink.lock().expect("not poisoned");
            s.push_str(&line);
            s.push('\n');
        }
    });
    let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
    let wait = async {
        while let Ok(Some(line)) = out.next_line().await {
            // "Forwarding from 127.0.0.1:PORT -> REMOTE"
            if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:")
                && let Some((port, _)) = rest.split_once(' ')
            {
                return port.parse::<u16>().ok();
            }
        }
        None
    };
    let local = tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!(
                "kubectl port-forward did not start: {}",
                stderr.lock().expect("lock")
            )
        });
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    Forward {
        child,
        local,
        stderr,
    }
}

/// Sends `data` through the forwarded port and returns what came back once the target
/// closed (the echo target closes after our write side is shut).
async fn round_trip(local: u16, data: Vec<u8>) -> Vec<u8> {
    let sock = TcpStream::connect(("127.0.0.1", local))
        .await
        .expect("connects");
    let (mut rd, mut wr) = sock.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(&data).await.expect("writes");
        wr.shutdown().await.expect("shuts down");
    });
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut back))
        .await
        .expect("the echo comes back in time")
        .expect("reads");
    writer.await.expect("writer");
    back
}

/// The bytes recorded on `channel` (`stdin`/`stdout`), as `kubewitness export --format jsonl`
/// writes them, and the start metadata.
async fn exported(bed: &Testbed, id: &str, channel: &str) -> (Vec<u8>, serde_json::Value) {
    let mut out = Vec::new();
    export::jsonl(&record_store(bed), id, &mut out)
        .await
        .expect("exports");
    let mut bytes = Vec::new();
    let mut meta = serde_json::Value::Null;
    for line in String::from_utf8(out).expect("utf-8").lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        if v["event"] == "start" {
            meta = v["meta"].clone();
        }
        if v["event"] == "data" && v["channel"] == channel {
            if let Some(t) = v["text"].as_str() {
                bytes.extend_from_slice(t.as_bytes());
            } else {
                use base64::Engine;
                let b = v["base64"].as_str().expect("text or base64");
                bytes.extend(
                    base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .expect("base64"),
                );
            }
        }
    }
    (bytes, meta)
}

#[tokio::test]
async fn a_mebibyte_round_trips_and_is_recorded_both_ways() {
    for transport in TRANSPORTS {
        let bed = bed(POLICY).await;
        let store = record_store(&bed);
        let pin = seal_key(&bed);
        let before = store.sessions().await.expect("lists");
        let fwd = port_forward(&bed, transport, ECHO_PORT).await;
        let data = noise((1 << 20) + 17, 42);
        let back = round_trip(fwd.local, data.clone()).await;
        assert_same_bytes(&back, &data);

        let (id, report) = new_sealed_session(&store, &pin, &before).await;
        assert!(
            report.problems.is_empty(),
            "{transport:?}: {:?}",
            report.problems
        );
        let (sent, meta) = exported(&bed, &id, "stdin").await;
        assert_same_bytes(&sent, &data);
        let (received, _) = exported(&bed, &id, "stdout").await;
        assert_same_bytes(&received, &data);
        assert_eq!(meta["kind"], "portforward", "{meta}");
        assert_eq!(meta["port"], ECHO_PORT, "{meta}");
        // kubectl's default is the WebSocket tunnel; upstream (the sim) speaks SPDY only.
        let protocol = match transport {
            Transport::Default => "websocket/spdy",
            Transport::Spdy => "spdy/spdy",
        };
        assert_eq!(meta["protocol"], protocol, "{meta}");
        assert!(!fwd.stderr().contains("error"), "{}", fwd.stderr());
    }
}

#[tokio::test]
async fn two_concurrent_connections_are_two_sessions() {
    let bed = bed(POLICY).await;
    let store = record_store(&bed);
    let pin = seal_key(&bed);
    let fwd = port_forward(&bed, Transport::Default, ECHO_PORT).await;
    let a = noise(300_000, 1);
    let b = noise(200_000, 2);
    let (back_a, back_b) = tokio::join!(
        round_trip(fwd.local, a.clone()),
        round_trip(fwd.local, b.clone())
    );
    assert_same_bytes(&back_a, &a);
    assert_same_bytes(&back_b, &b);
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids = store.sessions().await.expect("lists");
        if ids.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ids.len(), 2, "{ids:?}");
    let mut lens = Vec::new();
    for id in &ids {
        let report = sealed_session(&store, &pin, id).await;
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let (sent, _) = exported(&bed, id, "stdin").await;
        let (received, _) = exported(&bed, id, "stdout").await;
        assert_same_bytes(&received, &sent);
        lens.push(sent.len());
    }
    lens.sort_unstable();
    assert_eq!(lens, vec![b.len(), a.len()]);
}

#[tokio::test]
async fn upstream_sees_the_caller_impersonated() {
    let bed = bed(POLICY).await;
    let fwd = port_forward(&bed, Transport::Spdy, ECHO_PORT).await;
    let back = round_trip(fwd.local, b"ping".to_vec()).await;
    assert_eq!(back, b"ping");
    let requests = bed.sim.requests();
    let pf: Vec<_> = requests
        .iter()
        .filter(|r| r.uri.path().ends_with("/portforward"))
        .collect();
    assert_eq!(pf.len(), 1, "one upstream connection");
    let r = pf[0];
    assert_eq!(r.method, http::Method::POST);
    assert_eq!(r.headers["impersonate-user"], "alice");
    let groups: Vec<_> = r.headers.get_all("impersonate-group").iter().collect();
    assert_eq!(groups, vec!["sre", "oncall"]);
    assert_eq!(r.headers["x-stream-protocol-version"], "portforward.k8s.io");
    let token = &bed.callers[0].token;
    let auth = r.headers["authorization"].to_str().expect("ascii");
    assert!(
        !auth.contains(token.as_str()),
        "the caller's token never goes upstream"
    );
}

#[tokio::test]
async fn an_unmapped_port_is_reported_by_kubectl() {
    for transport in TRANSPORTS {
        let bed = bed(POLICY).await;
        let fwd = port_forward(&bed, transport, UNMAPPED_PORT).await;
        // The connection is accepted locally, then closed with nothing forwarded.
        let back = round_trip(fwd.local, b"hello".to_vec()).await;
        assert!(back.is_empty());
        let mut seen = String::new();
        for _ in 0..100 {
            seen = fwd.stderr();
            if seen.contains("connection refused") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            seen.contains(&format!(
                "error forwarding port {UNMAPPED_PORT} to pod default/web-0"
            )) && seen.contains("connection refused"),
            "{transport:?}: {seen}"
        );
    }
}

#[tokio::test]
async fn a_redacting_rule_denies_port_forward_with_the_policy_message() {
    let bed = bed(REDACTING).await;
    for transport in TRANSPORTS {
        let mut fwd = {
            let mut cmd = Command::new(KUBECTL);
            cmd.args(["port-forward", "web-0", &format!(":{ECHO_PORT}")])
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", bed.dir())
                .env("KUBECONFIG", &bed.kubeconfig)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            if transport == Transport::Spdy {
                cmd.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false");
            }
            cmd.spawn().expect("kubectl starts")
        };
        // kubectl only dials when a local connection arrives.
        let mut out = BufReader::new(fwd.stdout.take().expect("piped")).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = out.next_line().await {
                if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
                    return rest
                        .split_once(' ')
                        .and_then(|(p, _)| p.parse::<u16>().ok());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        if let Some(port) = port {
            let _ = round_trip(port, b"x".to_vec()).await;
        }
        let output = tokio::time::timeout(KUBECTL_TIMEOUT, fwd.wait_with_output())
            .await
            .expect("kubectl exits")
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_ne!(output.status.code(), Some(0));
        assert!(
            stderr.contains("only a rule with `redact: false` allows it"),
            "{transport:?}: {stderr}"
        );
    }
    assert!(
        !bed.sim
            .requests()
            .iter()
            .any(|r| r.uri.path().ends_with("/portforward")),
        "a denied port-forward never reaches upstream"
    );
}

/// Opens a connection through `fwd` and waits until a first echo came back (the pair and
/// its upstream pair are up).
async fn live_connection(fwd: &Forward) -> TcpStream {
    let mut sock = TcpStream::connect(("127.0.0.1", fwd.local))
        .await
        .expect("connects");
    sock.write_all(b"hi").await.expect("writes");
    let mut buf = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(30), sock.read_exact(&mut buf))
        .await
        .expect("echo in time")
        .expect("reads");
    assert_eq!(&buf, b"hi");
    sock
}

#[tokio::test]
async fn when_kubectl_goes_away_the_target_connection_is_closed() {
    for transport in TRANSPORTS {
        let (bed, mut ends) = bed_and_target(POLICY).await;
        let store = record_store(&bed);
        let pin = seal_key(&bed);
        let before = store.sessions().await.expect("lists");
        let mut fwd = port_forward(&bed, transport, ECHO_PORT).await;
        let _sock = live_connection(&fwd).await;
        fwd.child.start_kill().expect("kills kubectl");
        // Our socket to kubectl's listener stays open: only the upstream teardown can end
        // the target's connection.
        tokio::time::timeout(Duration::from_secs(10), ends.recv())
            .await
            .unwrap_or_else(|_| panic!("{transport:?}: the target connection stayed open"))
            .expect("the echo server runs");
        let (_, report) = new_sealed_session(&store, &pin, &before).await;
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.end_reason.as_deref(), Some("clientGone"));
    }
}

#[tokio::test]
async fn when_upstream_goes_away_kubectl_is_told_and_disconnected() {
    let (mut bed, _ends) = bed_and_target(POLICY).await;
    let mut fwd = port_forward(&bed, Transport::Default, ECHO_PORT).await;
    let mut sock = live_connection(&fwd).await;
    bed.sim.shutdown();
    // The forwarded connection ends, and kubectl reports the failure it was sent.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut rest))
        .await
        .expect("the forwarded connection ends")
        .ok();
    let status = tokio::time::timeout(Duration::from_secs(20), fwd.child.wait())
        .await
        .expect("kubectl exits once its connection is torn down")
        .expect("waits");
    assert!(!status.success());
    // kubectl prints the pair's error-stream message when it reads it before it notices the
    // connection going away; otherwise it reports the lost connection. Either way it says so.
    let stderr = fwd.stderr();
    assert!(
        stderr.contains("the upstream connection ended without an exit status")
            || stderr.contains("lost connection to pod"),
        "{stderr}"
    );
}
