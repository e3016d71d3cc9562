//! Stores with digests, written in-process by the library's recorder the way `serve` runs
//! it (recovery, digests, sessions, audit lines, shutdown), for the tamper tests; and the
//! two verifiers (`kubewitness verify`, `tools/verify_recordings.py`) run on them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use proxy_core::channel::Channel;
use proxy_core::pipeline::{EndReason, Pipeline, SessionEnd};
use proxy_core::policy::audit::AuditTee;
use proxy_core::record::{Event, RecordStore, Recorder, RecordingConfig, SealSigner, SessionMeta};
use proxy_core::status::Status;

use crate::bin::*;

/// The instance the test stores are written by.
pub(crate) const INSTANCE: &str = "kw-a";

/// A recorder as `serve` runs it, over the store at `dir` (spool beside it).
pub(crate) struct Run {
    pub(crate) rec: Recorder,
}

pub(crate) fn config(dir: &Path, key: Option<&Path>, previous: Option<&Path>) -> RecordingConfig {
    RecordingConfig {
        store: url(dir),
        // Beside the store: a copy of the store is a store without its instance's spool.
        spool_dir: Some(dir.with_extension("spool")),
        chunk_bytes: Some(2048),
        instance: Some(INSTANCE.into()),
        digest_interval: Some("1s".into()),
        signing_key: key.map(Path::to_path_buf),
        previous_signing_key: previous.map(Path::to_path_buf),
        ..RecordingConfig::default()
    }
}

impl Run {
    /// Starts a run: recovery, then digests (as `serve` does).
    pub(crate) async fn start(cfg: &RecordingConfig) -> Run {
        let rec = Recorder::from_config(cfg).expect("a recorder");
        rec.recover().await.expect("recovery");
        rec.start_digests().await.expect("digests start");
        Run { rec }
    }

    /// Records one short session and a decision line; returns the session id.
    pub(crate) async fn session(&self, what: &str) -> String {
        let ledger = self.rec.start_digests().await.expect("the ledger");
        ledger.line(format!("{{\"decision\":\"allow\",\"what\":\"{what}\"}}\n").as_bytes());
        record(&self.rec, what).await
    }

    /// Shuts down: the last digest.
    pub(crate) async fn close(self) {
        self.rec.close().await;
    }
}

/// Records one session through `rec` and waits for its seal.
pub(crate) async fn record(rec: &Recorder, what: &str) -> String {
    let meta = SessionMeta {
        kind: "exec".into(),
        user: "alice".into(),
        namespace: "default".into(),
        pod: "web-0".into(),
        argv: vec!["echo".into(), what.into()],
        ..SessionMeta::default()
    };
    let h = rec.start(meta, Pipeline::new().end_handle());
    for i in 0..50 {
        h.record(Event::Data {
            channel: Channel::Stdout,
            bytes: Bytes::from(format!("{what}: line {i}\n")),
        })
        .expect("recorded");
    }
    h.finish(&SessionEnd {
        reason: EndReason::Completed,
        status: Status::success(),
    });
    let id = h.session_id().to_string();
    let store: &RecordStore = rec.store();
    for _ in 0..400 {
        if store.get(&format!("{id}/seal")).await.is_ok() {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{id} was not sealed");
}

/// Writes a fresh signing key under `dir`; returns (private key path, public key path).
pub(crate) fn new_key(dir: &Path, name: &str) -> (PathBuf, PathBuf, SealSigner) {
    let signer = SealSigner::from_seed(&rand_seed());
    let (key, public) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    );
    std::fs::write(&key, signer.to_pkcs8_pem()).unwrap();
    std::fs::write(&public, signer.public_key_pem()).unwrap();
    (key, public, signer)
}

/// A synthetic key's seed, random at run time.
fn rand_seed() -> [u8; 32] {
    use std::io::Read;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .expect("random bytes");
    seed
}

/// What one verifier concluded: exit code, findings as (kind, subject, digest seq), and the
/// sessions that failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) code: Option<i32>,
    pub(crate) findings: BTreeSet<(String, String, Option<u64>)>,
    pub(crate) failed: BTreeSet<String>,
}

impl Verdict {
    pub(crate) fn kinds(&self) -> BTreeSet<&str> {
        self.findings.iter().map(|f| f.0.as_str()).collect()
    }
}

/// `kubewitness verify --store STORE ARGS -o json`.
pub(crate) async fn rust_verdict(store: &str, args: &[&str]) -> Verdict {
    let mut all = vec!["verify", "--store", store, "-o", "json"];
    all.extend_from_slice(args);
    let out = kubewitness(&all).await;
    let json = out.json();
    let mut findings = BTreeSet::new();
    for f in json["findings"].as_array().expect("findings") {
        let kind = f["kind"].as_str().unwrap().to_string();
        let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
        let (subject, seq) = match kind.as_str() {
            "digestMissing" | "digestUnknownKey" => (s("instance"), f["seq"].as_u64()),
            "digestModified" => (s("instance"), f["seq"].as_u64()),
            "auditMissing" | "auditModified" => (s("segment"), None),
            "truncated" | "noDigests" => (s("instance"), None),
            _ => (s("session"), None),
        };
        findings.insert((kind, subject, seq));
    }
    let failed = json["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|r| r["intact"] == false)
        .map(|r| r["session"].as_str().unwrap().to_string())
        .collect();
    Verdict {
        code: out.code,
        findings,
        failed,
    }
}

/// Whether the Python verifier's packages are installed; under `CI` they must be.
pub(crate) fn python_ready() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import cryptography, zstandard"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install cryptography and zstandard for tools/verify_recordings.py"
        );
        eprintln!(
            "SKIPPED the Python verifier: python3 with cryptography and zstandard is missing \
             (pip install cryptography zstandard)"
        );
    }
    ok
}

/// `python3 tools/verify_recordings.py --store DIR ARGS --json`.
pub(crate) async fn python_verdict(dir: &Path, args: &[&str]) -> Verdict {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/verify_recordings.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .args(["--store", &dir.display().to_string(), "--json"])
        .args(args)
        .output()
        .await
        .expect("python3 runs");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "python verifier output is not JSON ({e}): {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f[0].as_str().unwrap().to_string(),
                f[1].as_str().unwrap().to_string(),
                f[2].as_u64(),
            )
        })
        .collect();
    let failed = json["failedSessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    Verdict {
        code: out.status.code(),
        findings,
        failed,
    }
}

/// Runs `kubewitness verify` on `store` (with `store_args`, e.g. `--store-option`s) and the
/// Python verifier on `dir` (the same objects in a directory), both with `args`; asserts the
/// finding kinds are exactly `kinds`, the exit code follows, and the two agree on the exit
/// code, every finding and every failed session.
pub(crate) async fn agree(
    case: &str,
    store: &str,
    store_args: &[&str],
    dir: &Path,
    args: &[&str],
    kinds: &[&str],
) -> Verdict {
    let all: Vec<&str> = store_args.iter().chain(args).copied().collect();
    let rust = rust_verdict(store, &all).await;
    let want_code = if kinds.is_empty() && rust.failed.is_empty() {
        0
    } else {
        1
    };
    assert_eq!(rust.code, Some(want_code), "{case}: {rust:?}");
    assert_eq!(
        rust.kinds(),
        kinds.iter().copied().collect(),
        "{case}: {rust:?}"
    );
    if python_ready() {
        let python = python_verdict(dir, args).await;
        assert_eq!(python, rust, "{case}: the two verifiers disagree");
    }
    rust
}
