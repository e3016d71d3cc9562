//! Helpers: testbeds, raw TLS connections, hand-made HTTP/1.1 upgrades, client-side SPDY and
//! WebSocket framing, memory sampling, and the well-behaved kubectl that must still be served.
//!
//! Every read here has a timeout ([`IO_TIMEOUT`]): a hang is a test failure, never a stuck run.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, FlushCompress};
use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use proxy_core::spdy::decoder::FrameDecoder;
use proxy_core::spdy::frame::{Frame, GoAway};
use proxy_core::spdy::zlib::DICTIONARY;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

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
async fn write_raw(io: &mut Tls, bytes: &[u8]) -> bool {
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

/// Deflates header blocks the way a SPDY client does: one zlib stream per connection, the
/// SPDY dictionary, a sync flush per block. Takes raw (uncompressed) blocks, so malformed
/// blocks can be built too.
pub(crate) struct Deflater(Compress);

impl Deflater {
    pub(crate) fn new() -> Deflater {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(DICTIONARY).expect("dictionary");
        Deflater(z)
    }

    pub(crate) fn compress(&mut self, raw: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(raw.len() / 64 + 256);
        let mut consumed = 0;
        loop {
            let before = self.0.total_in();
            self.0
                .compress_vec(&raw[consumed..], &mut out, FlushCompress::Sync)
                .expect("deflate");
            consumed += (self.0.total_in() - before) as usize;
            if consumed == raw.len() && out.len() < out.capacity() {
                return out.into();
            }
            out.reserve(out.capacity().max(256));
        }
    }
}

/// An uncompressed SPDY/3 header block: count, then length-prefixed names and values.
pub(crate) fn raw_block(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u32(pairs.len() as u32);
    for (name, value) in pairs {
        out.put_u32(name.len() as u32);
        out.put_slice(name);
        out.put_u32(value.len() as u32);
        out.put_slice(value);
    }
    out
}

/// The client end of a SPDY connection after a hand-made upgrade.
pub(crate) struct Spdy {
    pub(crate) io: Tls,
    buf: BytesMut,
    decoder: FrameDecoder,
    pub(crate) deflate: Deflater,
}

impl Spdy {
    /// Upgrades an exec of `query` to SPDY/3.1 (v4) and asserts the 101.
    pub(crate) async fn exec(bed: &Testbed, query: &str) -> Spdy {
        Spdy::upgrade(bed, &format!("{EXEC_PATH}?{query}"), &spdy_headers()).await
    }

    /// POSTs an upgrade of `target` with `headers` and asserts the 101.
    pub(crate) async fn upgrade(bed: &Testbed, target: &str, headers: &[(&str, String)]) -> Spdy {
        let (res, io, rest) = request(bed, "POST", target, headers).await;
        assert_eq!(res.status, 101, "{res:?}");
        Spdy {
            io,
            buf: rest,
            decoder: FrameDecoder::new(),
            deflate: Deflater::new(),
        }
    }

    /// Writes raw bytes; `false` once the server has closed the connection.
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> bool {
        write_raw(&mut self.io, bytes).await
    }

    pub(crate) async fn send(&mut self, frame: &Frame) -> bool {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        self.send_raw(&buf).await
    }

    /// A SYN_STREAM with `header_block` already compressed.
    pub(crate) fn syn_stream(&mut self, id: u32, streamtype: &str) -> Frame {
        let block = self
            .deflate
            .compress(&raw_block(&[(b"streamtype", streamtype.as_bytes())]));
        Frame::SynStream(proxy_core::spdy::frame::SynStream::new(id, block))
    }

    /// Opens streams 1, 3, 5… of `types` like kubectl: each waits for its SYN_REPLY.
    pub(crate) async fn open(&mut self, types: &[&str]) {
        for (i, ty) in types.iter().enumerate() {
            let id = 2 * i as u32 + 1;
            let syn = self.syn_stream(id, ty);
            assert!(self.send(&syn).await, "send SYN_STREAM {ty}");
            match self.next().await {
                Some(Frame::SynReply(r)) => assert_eq!(r.stream_id, id),
                other => panic!("no SYN_REPLY for {ty}: {other:?}"),
            }
        }
    }

    /// The next frame from kubewitness; `None` when it closed the connection. Fails on a hang
    /// and on bytes that are not SPDY.
    pub(crate) async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).expect("valid SPDY") {
                return Some(frame);
            }
            match timed("read a SPDY frame", self.io.read_buf(&mut self.buf)).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Reads until kubewitness closes, returning its GOAWAY (the last one) and every RST.
    pub(crate) async fn until_closed(&mut self) -> (Option<GoAway>, Vec<Frame>) {
        let (mut goaway, mut seen) = (None, Vec::new());
        while let Some(frame) = self.next().await {
            match frame {
                Frame::GoAway(g) => goaway = Some(g),
                other => seen.push(other),
            }
        }
        (goaway, seen)
    }
}

pub(crate) fn spdy_headers() -> Vec<(&'static str, String)> {
    vec![
        ("Connection", "Upgrade".into()),
        ("Upgrade", "SPDY/3.1".into()),
        ("X-Stream-Protocol-Version", "v4.channel.k8s.io".into()),
        ("Content-Length", "0".into()),
    ]
}

pub(crate) fn ws_headers(protocol: &str) -> Vec<(&'static str, String)> {
    let key: [u8; 16] = rand::random();
    vec![
        ("Connection", "Upgrade".into()),
        ("Upgrade", "websocket".into()),
        ("Sec-WebSocket-Version", "13".into()),
        (
            "Sec-WebSocket-Key",
            base64::engine::general_purpose::STANDARD.encode(key),
        ),
        ("Sec-WebSocket-Protocol", protocol.into()),
    ]
}

/// WebSocket opcodes used here.
pub(crate) const TEXT: u8 = 0x1;
pub(crate) const BINARY: u8 = 0x2;
pub(crate) const CLOSE: u8 = 0x8;
pub(crate) const PING: u8 = 0x9;

/// One frame from the server.
#[derive(Debug)]
pub(crate) struct WsFrame {
    pub(crate) opcode: u8,
    pub(crate) payload: Bytes,
}

impl WsFrame {
    /// The close code and reason of a close frame.
    pub(crate) fn close(&self) -> Option<(u16, String)> {
        (self.opcode == CLOSE && self.payload.len() >= 2).then(|| {
            (
                u16::from_be_bytes([self.payload[0], self.payload[1]]),
                String::from_utf8_lossy(&self.payload[2..]).into_owned(),
            )
        })
    }
}

/// A masked client frame, built by hand (so FIN, opcode and the length can lie).
pub(crate) fn ws_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    ws_frame_claiming(fin, opcode, payload, payload.len() as u64)
}

/// Like [`ws_frame`] but with `claimed` in the length field.
pub(crate) fn ws_frame_claiming(fin: bool, opcode: u8, payload: &[u8], claimed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(if fin { 0x80 } else { 0 } | opcode);
    match claimed {
        0..=125 => out.push(0x80 | claimed as u8),
        126..=0xffff => {
            out.push(0x80 | 126);
            out.put_u16(claimed as u16);
        }
        _ => {
            out.push(0x80 | 127);
            out.put_u64(claimed);
        }
    }
    let mask: [u8; 4] = rand::random();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The client end of a WebSocket after a hand-made upgrade.
pub(crate) struct Ws {
    pub(crate) io: Tls,
    buf: BytesMut,
}

impl Ws {
    /// Upgrades an exec of `query` with sub-protocol `protocol` and asserts the 101.
    pub(crate) async fn exec(bed: &Testbed, query: &str, protocol: &str) -> Ws {
        let (res, io, rest) = request(
            bed,
            "GET",
            &format!("{EXEC_PATH}?{query}"),
            &ws_headers(protocol),
        )
        .await;
        assert_eq!(res.status, 101, "{res:?}");
        Ws { io, buf: rest }
    }

    /// Writes raw bytes; `false` once the server has closed the connection.
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> bool {
        write_raw(&mut self.io, bytes).await
    }

    /// A binary message `[channel][payload]`.
    pub(crate) async fn send_channel(&mut self, channel: u8, payload: &[u8]) -> bool {
        let mut msg = vec![channel];
        msg.extend_from_slice(payload);
        self.send_raw(&ws_frame(true, BINARY, &msg)).await
    }

    /// The next frame; `None` when the server closed the connection.
    pub(crate) async fn next(&mut self) -> Option<WsFrame> {
        loop {
            if let Some(frame) = self.parse() {
                return Some(frame);
            }
            match timed("read a websocket frame", self.io.read_buf(&mut self.buf)).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    fn parse(&mut self) -> Option<WsFrame> {
        let b = &self.buf[..];
        if b.len() < 2 {
            return None;
        }
        assert_eq!(b[1] & 0x80, 0, "server frames are not masked");
        let (len, at) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")) as usize,
                10,
            ),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if b.len() < at + len {
            return None;
        }
        let opcode = b[0] & 0x0f;
        let mut frame = self.buf.split_to(at + len);
        Some(WsFrame {
            opcode,
            payload: frame.split_off(at).freeze(),
        })
    }

    /// Reads until the server's close frame (or the connection closes): its code and reason,
    /// and the data messages seen before it.
    pub(crate) async fn until_close(&mut self) -> (Option<(u16, String)>, Vec<Bytes>) {
        let mut data = Vec::new();
        while let Some(frame) = self.next().await {
            if frame.opcode == CLOSE {
                return (frame.close(), data);
            }
            if frame.opcode == BINARY || frame.opcode == TEXT {
                data.push(frame.payload);
            }
        }
        (None, data)
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
