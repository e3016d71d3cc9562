//! Helpers: testbeds, raw TLS connections, hand-made HTTP/1.1 upgrades (client-side SPDY
//! and WebSocket framing in `wire`), memory sampling, and the well-behaved kubectl that must
//! still be served.
//!
//! Every read here has a timeout ([`IO_TIMEOUT`]): a hang is a test failure, never a stuck run.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

mod wire;
pub(crate) use wire::*;

/// The longest any single read, write or response may take.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a session may take to end after its client misbehaved or left.
pub(crate) const SESSION_END_TIMEOUT: Duration = Duration::from_secs(20);
/// Allowed RSS growth during an attack that would cost GiBs if anything were unbounded.
pub(crate) const MAX_GROWTH_KIB: u64 = 64 * 1024;
/// Where kubectl is expected.
pub(crate) const KUBECTL: &str = "/usr/bin/kubectl";
/// The exec path of the testbed's first pod.
pub(crate) const EXEC_PATH: &str = "/api/v1/namespaces/default/pods/web-0/exec";

/// Tests that measure memory hold this exclusively; every other test holds it shared, so no
/// other test allocates in this process while memory is measured.
static MEMORY: RwLock<()> = RwLock::const_new(());

/// For a test that does not measure memory.
pub(crate) async fn shared() -> RwLockReadGuard<'static, ()> {
    MEMORY.read().await
}

/// For a test that measures memory.
pub(crate) async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    MEMORY.write().await
}

pub(crate) async fn testbed() -> Testbed {
    testbed_with(TestbedOptions::default()).await
}

pub(crate) async fn testbed_with(opts: TestbedOptions) -> Testbed {
    assert!(Path::new(KUBECTL).exists(), "{KUBECTL} is required");
    Testbed::start(opts).await.expect("testbed starts")
}

/// Awaits `fut` or fails the test after [`IO_TIMEOUT`].
pub(crate) async fn timed<F: std::future::Future>(what: &'static str, fut: F) -> F::Output {
    tokio::time::timeout(IO_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("hang: {what} took longer than {IO_TIMEOUT:?}"))
}

pub(crate) type Tls = TlsStream<TcpStream>;

/// A TLS connection to kubewitness, verified against the testbed CA, without ALPN (HTTP/1.1
/// like kubectl's exec dialer).
pub(crate) async fn connect(bed: &Testbed) -> Tls {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(bed.ca.ca_pem().as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA cert");
    }
    let config = rustls::ClientConfig::builder_with_provider(proxy_core::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = timed("tcp connect", TcpStream::connect(bed.addr))
        .await
        .expect("connects");
    let name = ServerName::try_from("localhost").expect("name");
    timed(
        "tls handshake",
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake")
}

/// An HTTP/1.1 response head (and body, unless it switched protocols).
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

/// Sends a request head built by hand (bearer token of the first caller) and reads the
/// response head; for a 101 returns the connection and any bytes read past the head.
pub(crate) async fn request(
    bed: &Testbed,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
) -> (Response, Tls, BytesMut) {
    let mut io = connect(bed).await;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nUser-Agent: adversarial\r\n",
        bed.callers[0].token
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // A peer that refuses early may reset while we still write: that is an answer too.
    let _ = timed("write request", io.write_all(head.as_bytes())).await;
    let _ = io.flush().await;
    let (response, buf) = read_response(&mut io).await;
    (response, io, buf)
}

/// Reads a response head and, unless it switched protocols, as much body as
/// `Content-Length` says (or up to EOF); returns any bytes read past a 101's head.
pub(crate) async fn read_response(io: &mut Tls) -> (Response, BytesMut) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = timed("response head", io.read_buf(&mut buf))
            .await
            .unwrap_or(0);
        assert!(n > 0, "connection closed before a response head");
    };
    let head = String::from_utf8_lossy(&buf.split_to(end)).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let mut response = Response {
        status,
        head,
        body: String::new(),
    };
    if status != 101 {
        let len: Option<usize> = response.head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        });
        while len.is_none_or(|len| buf.len() < len) {
            match timed("response body", io.read_buf(&mut buf)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        response.body = String::from_utf8_lossy(&buf).into_owned();
        buf.clear();
    }
    (response, buf)
}

/// Exec requests the simulated API server has seen.
pub(crate) fn upstream_execs(bed: &Testbed) -> usize {
    bed.sim
        .requests()
        .iter()
        .filter(|r| r.uri.path().ends_with("/exec"))
        .count()
}

/// Waits until kubewitness runs no session any more (the attacked one ended).
pub(crate) async fn sessions_end(bed: &Testbed) {
    let deadline = tokio::time::Instant::now() + SESSION_END_TIMEOUT;
    while bed.proxy.active_sessions() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the attacked session did not end within {SESSION_END_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Which transport the well-behaved kubectl uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Client {
    WebSocket,
    Spdy,
}

/// A normal `kubectl exec` on a new connection succeeds with the right output: the process
/// keeps serving others after an attack.
pub(crate) async fn still_serving(bed: &Testbed, client: Client) {
    let websockets = if client == Client::Spdy {
        "false"
    } else {
        "true"
    };
    let out = tokio::process::Command::new(KUBECTL)
        .args(["exec", "web-0", "--", "echo", "still", "serving"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", bed.dir())
        .env("KUBECONFIG", &bed.kubeconfig)
        .env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", websockets)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("kubectl hangs")
        .expect("kubectl runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{client:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"still serving\n", "{client:?}");
}

/// Writes and flushes `bytes` within [`IO_TIMEOUT`]; `false` once the server has closed the
/// connection.
pub(super) async fn write_raw(io: &mut Tls, bytes: &[u8]) -> bool {
    matches!(
        tokio::time::timeout(IO_TIMEOUT, async {
            io.write_all(bytes).await?;
            io.flush().await
        })
        .await,
        Ok(Ok(()))
    )
}

/// The payload bytes a WebSocket channel protocol carried on `channel`, in order.
pub(crate) fn channel_bytes(messages: &[bytes::Bytes], channel: u8) -> Vec<u8> {
    messages
        .iter()
        .filter(|m| m.first() == Some(&channel))
        .flat_map(|m| m[1..].to_vec())
        .collect()
}

/// This process's resident set, in KiB.
pub(crate) fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Samples RSS every 10 ms on its own thread (independent of the runtime) and keeps the peak.
pub(crate) struct RssWatch {
    baseline: u64,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssWatch {
    pub(crate) fn start() -> RssWatch {
        let baseline = rss_kib();
        let peak = Arc::new(AtomicU64::new(baseline));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        RssWatch {
            baseline,
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; asserts the peak grew less than [`MAX_GROWTH_KIB`] over the baseline and
    /// prints the figures. Returns (baseline, peak) in KiB.
    #[track_caller]
    pub(crate) fn finish(mut self, what: &str) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("sampler");
        }
        let peak = self.peak.load(Ordering::Relaxed).max(rss_kib());
        let growth = peak.saturating_sub(self.baseline);
        eprintln!(
            "RSS {what}: baseline {} KiB, peak {peak} KiB, growth {growth} KiB",
            self.baseline
        );
        assert!(
            growth < MAX_GROWTH_KIB,
            "{what}: RSS grew {growth} KiB (limit {MAX_GROWTH_KIB} KiB)"
        );
        (self.baseline, peak)
    }
}

/// A `Status` JSON error body's code and message.
pub(crate) fn status_body(body: &str) -> (i64, String) {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| {
        panic!("not a Status JSON ({e}): {body:.200}");
    });
    assert_eq!(v["kind"], "Status", "{body}");
    (
        v["code"].as_i64().expect("code"),
        v["message"].as_str().unwrap_or("").to_owned(),
    )
}
