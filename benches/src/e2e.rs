//! The end-to-end setup and scenarios: the simulated API server (TLS) with, in front of it,
//! kubewitness with everything on (policy, redaction, recording to a file store),
//! kubewitness with nothing on (built-in access rule, no redaction, no recording), and
//! optionally `kubectl proxy`; all measured by the same in-process client ([`crate::client`]).
//!
//! Every scenario checks what it received (byte counts, echoed bytes, a success status) and
//! fails the run otherwise: a fast wrong answer is not a result.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kubewitness_sim::SimConfig;
use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use proxy_core::channel::{Channel, Frame, Msg, Protocol};
use proxy_core::config::Config;
use proxy_core::peer::Peer;
use proxy_core::redaction::RedactionConfig;
use proxy_core::server::{Proxy, Server};
use proxy_core::status::Status;
use tokio::io::AsyncBufReadExt;
use tokio::sync::watch;

use crate::BenchError;
use crate::client::{Target, Transport, exec_path, open, tls_trusting};

/// Size of the log-text file the streaming commands `cat`; streams are whole multiples.
pub const CORPUS_BYTES: usize = 8 << 20;

/// How long one session may take before the run is declared hung.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(300);

/// The policy of the "everything on" kubewitness: exec of any command with stdin, limits
/// far above what the benches use (the global stream limit defaults to 256, below the
/// 1,000-session run), so the checks run on every frame without ending sessions.
pub const POLICY: &str = r#"apiVersion: kubewitness/v1
kind: Policy
global: {maxConcurrentStreams: 4096}
rules:
- name: bench
  subjects: {users: [alice]}
  namespaces: ["*"]
  pods: ["*"]
  read: [pods]
  exec:
    commands: [["**"]]
    stdin: true
    tty: true
    maxDuration: 1h
    idleTimeout: 15m
  rateLimit: {requestsPerSecond: 100000, burst: 100000, maxConcurrentStreams: 100000}
- name: bench-portforward
  subjects: {users: [alice]}
  namespaces: [default]
  pods: [web-0]
  portForward: true
  redact: false
"#;

/// The running setup. Dropping it stops everything (and kills `kubectl proxy`).
#[derive(Debug)]
pub struct Env {
    /// Simulated API server plus kubewitness with everything on.
    pub testbed: Testbed,
    /// The simulated API server, directly (TLS, its own token).
    pub direct: Target,
    /// kubewitness with policy, redaction and recording.
    pub full: Target,
    /// kubewitness with the built-in access rule, no recording and no redaction.
    pub bare: Target,
    /// `kubectl proxy --reject-paths='^$'` in front of the simulated API server.
    pub kubectl: Option<Target>,
    /// The log-text file streaming commands read.
    pub corpus: PathBuf,
    stop_bare: watch::Sender<bool>,
    kubectl_child: Option<tokio::process::Child>,
}

impl Env {
    /// Starts the simulated server and the proxies; `kubectl` adds a `kubectl proxy` leg.
    pub async fn start(kubectl: bool) -> Result<Env, BenchError> {
        let (namespace, pod, port) = crate::portforward::POD;
        let echo = kubewitness_sim::echo_server().await?;
        let testbed = Testbed::start(TestbedOptions {
            sim: SimConfig {
                tls: true,
                port_forwards: [((format!("{namespace}/{pod}"), port), echo)].into(),
                ..SimConfig::default()
            },
            policy: Some(POLICY.to_owned()),
            ..TestbedOptions::default()
        })
        .await?;
        let corpus = testbed.dir().join("corpus.log");
        let mut text = crate::corpus::clean(CORPUS_BYTES);
        text.truncate(CORPUS_BYTES);
        std::fs::write(&corpus, text)?;

        let sim_ca = testbed.sim.ca_pem().ok_or("the sim serves TLS")?;
        let direct = Target {
            name: "direct".into(),
            addr: testbed.sim.addr(),
            tls: Some(tls_trusting(sim_ca)?),
            token: Some(testbed.sim.config().token.clone()),
        };
        let kw_tls = tls_trusting(testbed.ca.ca_pem())?;
        let token = testbed.callers[0].token.clone();
        let full = Target {
            name: "kubewitness".into(),
            addr: testbed.addr,
            tls: Some(kw_tls.clone()),
            token: Some(token.clone()),
        };

        // The same configuration with everything optional off.
        let bare_config = Config {
            listen: Some("127.0.0.1:0".parse()?),
            policy: None,
            recording: None,
            redaction: RedactionConfig {
                enabled: false,
                ..testbed.config.redaction.clone()
            },
            ..testbed.config.clone()
        };
        let proxy = Proxy::from_config(&bare_config).await?;
        let tls = proxy_core::tls::server_config(bare_config.tls.as_ref().ok_or("tls")?)?;
        let server = Server::bind(bare_config.listen_addr(), Some(tls), proxy).await?;
        let bare = Target {
            name: "kubewitness-bare".into(),
            addr: server.local_addr()?,
            tls: Some(kw_tls),
            token: Some(token),
        };
        let (stop_bare, mut stopped) = watch::channel(false);
        tokio::spawn(server.serve(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));

        let (kubectl, kubectl_child) = if kubectl {
            let (target, child) = start_kubectl_proxy(&testbed).await?;
            (Some(target), Some(child))
        } else {
            (None, None)
        };
        Ok(Env {
            testbed,
            direct,
            full,
            bare,
            kubectl,
            corpus,
            stop_bare,
            kubectl_child,
        })
    }

    /// The targets by name: `direct`, `kubewitness`, `kubewitness-bare`, `kubectl-proxy`.
    pub fn target(&self, name: &str) -> Option<&Target> {
        [&self.direct, &self.full, &self.bare]
            .into_iter()
            .chain(self.kubectl.as_ref())
            .find(|t| t.name == name)
    }

    /// The exec path of a command streaming `bytes` (a multiple of [`CORPUS_BYTES`]) of
    /// log text to stdout.
    pub fn stream_path(&self, bytes: u64) -> String {
        let times = bytes.div_ceil(CORPUS_BYTES as u64).max(1);
        let script = format!(
            "for i in $(seq {times}); do cat '{}'; done",
            self.corpus.display()
        );
        exec_path(&["sh", "-c", &script], false)
    }

    /// The exec path of a session that waits for one stdin line, then streams `bytes`
    /// (at most [`CORPUS_BYTES`]) of log text.
    pub fn gated_stream_path(&self, bytes: u64) -> String {
        let script = format!(
            "head -n 1 >/dev/null; head -c {bytes} '{}'",
            self.corpus.display()
        );
        exec_path(&["sh", "-c", &script], true)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.stop_bare.send(true);
        if let Some(child) = &mut self.kubectl_child {
            let _ = child.start_kill();
        }
    }
}

/// Starts `kubectl proxy` on a free port against the simulated server's kubeconfig, with
/// `--reject-paths='^$'` so exec and attach are passed.
async fn start_kubectl_proxy(
    testbed: &Testbed,
) -> Result<(Target, tokio::process::Child), BenchError> {
    let mut child = tokio::process::Command::new("kubectl")
        .arg("proxy")
        .arg("--kubeconfig")
        .arg(testbed.dir().join("upstream.kubeconfig"))
        .args(["--port=0", "--reject-paths=^$", "--address=127.0.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("kubectl proxy stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await??
        .ok_or("kubectl proxy exited")?;
    // "Starting to serve on 127.0.0.1:PORT"
    let addr = line
        .rsplit(' ')
        .next()
        .ok_or("kubectl proxy: no address")?
        .parse()?;
    Ok((
        Target {
            name: "kubectl-proxy".into(),
            addr,
            tls: None,
            token: None,
        },
        child,
    ))
}

/// What one session returned.
#[derive(Debug, Default)]
pub struct Received {
    /// Stdout bytes.
    pub stdout: u64,
    /// The final status, if one came.
    pub status: Option<Status>,
}

/// Reads a session to its end, counting stdout and taking the status.
pub async fn drain(peer: &mut Peer) -> Result<Received, BenchError> {
    let mut got = Received::default();
    while let Some(msg) = tokio::time::timeout(SESSION_TIMEOUT, peer.incoming.recv()).await? {
        if let Msg::Data(Frame { channel, bytes }) = msg {
            match channel {
                Channel::Stdout => got.stdout += bytes.len() as u64,
                Channel::Error => {
                    got.status = Some(Status::from_error_stream(Protocol::V4, &bytes));
                }
                _ => {}
            }
        }
    }
    Ok(got)
}

fn check(got: &Received, want_stdout: u64, what: &str) -> Result<(), BenchError> {
    let ok = got.status.as_ref().is_some_and(Status::is_success);
    if got.stdout != want_stdout || !ok {
        return Err(format!(
            "{what}: got {} of {want_stdout} stdout bytes, status {:?}",
            got.stdout,
            got.status.as_ref().map(|s| &s.message)
        )
        .into());
    }
    Ok(())
}

/// Streams `bytes` of stdout through `target`; returns the time from connect to the end.
pub async fn throughput(
    env: &Env,
    target: &Target,
    transport: Transport,
    bytes: u64,
) -> Result<Duration, BenchError> {
    let path = env.stream_path(bytes);
    let want = bytes.div_ceil(CORPUS_BYTES as u64).max(1) * CORPUS_BYTES as u64;
    let start = Instant::now();
    let mut peer = open(target, transport, &path).await?;
    drop(peer.outgoing.clone());
    let got = drain(&mut peer).await?;
    let elapsed = start.elapsed();
    check(&got, want, &format!("{} {}", target.name, transport.name()))?;
    Ok(elapsed)
}

/// Time from connect to the first stdout byte of `printf x`.
pub async fn time_to_first_byte(
    target: &Target,
    transport: Transport,
) -> Result<Duration, BenchError> {
    let path = exec_path(&["printf", "x"], false);
    let start = Instant::now();
    let mut peer = open(target, transport, &path).await?;
    let mut first = None;
    let mut got = Received::default();
    while let Some(msg) = tokio::time::timeout(SESSION_TIMEOUT, peer.incoming.recv()).await? {
        if let Msg::Data(Frame { channel, bytes }) = msg {
            match channel {
                Channel::Stdout if !bytes.is_empty() => {
                    first.get_or_insert_with(|| start.elapsed());
                    got.stdout += bytes.len() as u64;
                }
                Channel::Error => {
                    got.status = Some(Status::from_error_stream(Protocol::V4, &bytes))
                }
                _ => {}
            }
        }
    }
    check(
        &got,
        1,
        &format!("ttfb {} {}", target.name, transport.name()),
    )?;
    first.ok_or_else(|| "no stdout byte".into())
}

/// `rounds` interactive round trips (one stdin byte → the same byte echoed by `cat` on
/// stdout) after `warmup` unmeasured ones; returns each round's time.
pub async fn round_trips(
    target: &Target,
    transport: Transport,
    warmup: usize,
    rounds: usize,
) -> Result<Vec<Duration>, BenchError> {
    let path = exec_path(&["cat"], true);
    let mut peer = open(target, transport, &path).await?;
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..warmup + rounds {
        let byte = Bytes::from(vec![b'a' + (i % 26) as u8]);
        let start = Instant::now();
        peer.outgoing
            .send(Msg::Data(Frame::new(Channel::Stdin, byte.clone())))
            .await
            .map_err(|_| "session ended")?;
        loop {
            match tokio::time::timeout(SESSION_TIMEOUT, peer.incoming.recv()).await? {
                Some(Msg::Data(Frame {
                    channel: Channel::Stdout,
                    bytes,
                })) if !bytes.is_empty() => {
                    if bytes != byte {
                        return Err(format!("echo mismatch in round {i}").into());
                    }
                    break;
                }
                Some(_) => {}
                None => return Err("session ended mid-round".into()),
            }
        }
        if i >= warmup {
            samples.push(start.elapsed());
        }
    }
    peer.outgoing
        .send(Msg::Close(Channel::Stdin))
        .await
        .map_err(|_| "session ended")?;
    let got = drain(&mut peer).await?;
    check(
        &got,
        0,
        &format!("rtt {} {}", target.name, transport.name()),
    )?;
    Ok(samples)
}

/// What [`concurrency`] measured.
#[derive(Debug, Default)]
pub struct ConcurrencyReport {
    /// Sessions opened.
    pub sessions: usize,
    /// Time to open them all.
    pub open: Duration,
    /// This process's memory with every session open and idle.
    pub idle: Option<crate::stats::Memory>,
    /// Time from releasing every session to the last byte of the last one.
    pub stream: Duration,
    /// Stdout bytes received in total.
    pub bytes: u64,
    /// Sessions that failed (open refused, short read or a failure status).
    pub errors: usize,
    /// The first error, for the report.
    pub first_error: Option<String>,
}

/// Opens `n` sessions (at most `parallel_opens` handshakes at once), waits until all are
/// idle, samples memory, then releases them together; each streams `bytes_each`.
pub async fn concurrency(
    env: &Env,
    target: &Target,
    transport: Transport,
    n: usize,
    bytes_each: u64,
    parallel_opens: usize,
) -> Result<ConcurrencyReport, BenchError> {
    let path = Arc::new(env.gated_stream_path(bytes_each));
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel_opens.max(1)));
    let (go_tx, go_rx) = watch::channel(false);
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel::<bool>(n.max(1));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (target, path, gate, opened_tx, mut go_rx) = (
            target.clone(),
            path.clone(),
            gate.clone(),
            opened_tx.clone(),
            go_rx.clone(),
        );
        tasks.spawn(async move {
            let permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let peer = open(&target, transport, &path).await;
            drop(permit);
            let _ = opened_tx.send(peer.is_ok()).await;
            let mut peer = peer.map_err(|e| e.to_string())?;
            go_rx.wait_for(|g| *g).await.map_err(|e| e.to_string())?;
            let t0 = Instant::now();
            peer.outgoing
                .send(Msg::Data(Frame::new(
                    Channel::Stdin,
                    Bytes::from_static(b"go\n"),
                )))
                .await
                .map_err(|_| "session ended before go".to_string())?;
            let got = drain(&mut peer).await.map_err(|e| e.to_string())?;
            check(&got, bytes_each, "concurrent").map_err(|e| e.to_string())?;
            Ok::<_, String>((got.stdout, t0.elapsed()))
        });
    }
    drop(opened_tx);
    let mut report = ConcurrencyReport {
        sessions: n,
        ..ConcurrencyReport::default()
    };
    let mut opened = 0;
    while opened < n {
        match opened_rx.recv().await {
            Some(_) => opened += 1,
            None => break,
        }
    }
    report.open = start.elapsed();
    // Let the drivers and the sim's processes settle before sampling idle memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.idle = crate::stats::memory(None);
    let released = Instant::now();
    let _ = go_tx.send(true);
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok((bytes, _)) => report.bytes += bytes,
            Err(e) => {
                report.errors += 1;
                report.first_error.get_or_insert(e);
            }
        }
    }
    report.stream = released.elapsed();
    Ok(report)
}
