//! Helpers: testbeds, running kubectl, and reading what was recorded. The `faults` and `soak`
//! test binaries share this module.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use kubewitness_sim::SimConfig;
use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use proxy_core::record::seal::load_public_key;
use proxy_core::record::{Problem, RecordStore, SessionReport, export, verify_session};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Where kubectl is expected.
pub const KUBECTL: &str = "/usr/bin/kubectl";
/// The longest any single kubectl invocation may take.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(120);

/// Which transport kubectl uses for exec/attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// kubectl's default since 1.30.
    WebSocket,
    /// `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`.
    Spdy,
}

pub const BOTH: [Client; 2] = [Client::WebSocket, Client::Spdy];

pub async fn testbed() -> Testbed {
    testbed_with(TestbedOptions::default()).await
}

pub async fn testbed_with_sim(sim: SimConfig) -> Testbed {
    testbed_with(TestbedOptions {
        sim,
        ..TestbedOptions::default()
    })
    .await
}

pub async fn testbed_with(opts: TestbedOptions) -> Testbed {
    assert!(
        Path::new(KUBECTL).exists(),
        "{KUBECTL} is required for these tests (.ci/run installs it)"
    );
    Testbed::start(opts).await.expect("testbed starts")
}

/// What a kubectl run produced.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    #[track_caller]
    pub fn ok(&self) -> &Run {
        assert_eq!(
            self.code,
            Some(0),
            "kubectl failed: stderr: {}",
            self.stderr
        );
        self
    }
}

/// Runs kubectl against the testbed as its first caller.
pub async fn kubectl(bed: &Testbed, client: Client, args: &[&str]) -> Run {
    kubectl_with(bed, &bed.kubeconfig, client, args, None).await
}

/// Runs kubectl with `stdin` piped in.
pub async fn kubectl_stdin(bed: &Testbed, client: Client, args: &[&str], stdin: Vec<u8>) -> Run {
    kubectl_with(bed, &bed.kubeconfig, client, args, Some(stdin)).await
}

pub async fn kubectl_with(
    bed: &Testbed,
    kubeconfig: &Path,
    client: Client,
    args: &[&str],
    stdin: Option<Vec<u8>>,
) -> Run {
    let mut cmd = Command::new(KUBECTL);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", bed.dir())
        .env("KUBECONFIG", kubeconfig)
        .env(
            "KUBECTL_REMOTE_COMMAND_WEBSOCKETS",
            if client == Client::Spdy {
                "false"
            } else {
                "true"
            },
        )
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("kubectl starts");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        tokio::spawn(async move {
            let _ = pipe.write_all(&input).await;
            let _ = pipe.shutdown().await;
        });
    }
    let out = tokio::time::timeout(KUBECTL_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
        .expect("kubectl runs");
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The environment kubectl runs with: an isolated `HOME` (no shared discovery cache), the
/// kubeconfig, and the exec transport.
pub fn kubectl_env(
    bed: &Testbed,
    kubeconfig: &Path,
    client: Client,
) -> Vec<(&'static str, std::ffi::OsString)> {
    let websockets = if client == Client::Spdy {
        "false"
    } else {
        "true"
    };
    vec![
        ("PATH", std::env::var_os("PATH").unwrap_or_default()),
        ("HOME", bed.dir().into()),
        ("KUBECONFIG", kubeconfig.into()),
        ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", websockets.into()),
    ]
}

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Asserts two byte strings are equal without printing megabytes.
#[track_caller]
pub fn assert_same_bytes(got: &[u8], want: &[u8]) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "bytes differ: got {} bytes, want {}; first difference at {:?}",
            got.len(),
            want.len(),
            first
        );
    }
}

/// The store the testbed records to.
pub fn record_store(bed: &Testbed) -> RecordStore {
    let rc = bed.config.recording.as_ref().expect("the testbed records");
    RecordStore::open(&rc.store, &[], None).expect("the store opens")
}

/// The public key the testbed's seals are signed with.
pub fn seal_key(bed: &Testbed) -> proxy_core::record::VerifyingKey {
    load_public_key(&bed.dir().join("recording.pub")).expect("public key")
}

/// Waits (up to 10 s) for the one session of `store` that is not in `before` to be sealed,
/// and verifies it against `pin`.
pub async fn new_sealed_session(
    store: &RecordStore,
    pin: &proxy_core::record::VerifyingKey,
    before: &[String],
) -> (String, SessionReport) {
    for _ in 0..200 {
        let ids = store.sessions().await.expect("lists");
        let new: Vec<_> = ids.iter().filter(|i| !before.contains(i)).collect();
        assert!(new.len() <= 1, "one session at a time: {new:?}");
        if let Some(id) = new.first() {
            return ((*id).clone(), sealed_session(store, pin, id).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no new session");
}

/// Waits for session `id` to be sealed, and verifies it against `pin`.
pub async fn sealed_session(
    store: &RecordStore,
    pin: &proxy_core::record::VerifyingKey,
    id: &str,
) -> SessionReport {
    for _ in 0..200 {
        let r = verify_session(store, id, Some(pin), &|| {}).await;
        if !r.problems.contains(&Problem::Unsealed) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("session {id} was not sealed");
}

/// A recorded session's stdout and stderr, as `kubewitness export --format text` writes them.
pub async fn exported_text(store: &RecordStore, id: &str) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    export::text(store, id, &mut out, &mut err)
        .await
        .expect("exports");
    (out, err)
}

/// The interpreter the Python client tests run, found on `PATH` (CI installs their
/// packages with `python3 -m pip`).
pub const PYTHON: &str = "python3";

/// Whether `import MODULE` works. Without it a test is skipped, except in CI (`.ci/run`
/// installs every module the tests import).
pub async fn python_has(module: &str) -> bool {
    let import = Command::new(PYTHON)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    let installed = import.is_ok_and(|s| s.success());
    assert!(
        installed || std::env::var_os("CI").is_none(),
        "the python module {module} is required in CI (.ci/run installs it)"
    );
    if !installed {
        eprintln!("skipped: the python module {module} is not installed");
    }
    installed
}

/// Runs `python3 SCRIPT ARGS` (proxy variables removed: the testbed is on loopback) within
/// `timeout` and parses the JSON it prints.
pub async fn python_json(
    script: &Path,
    args: &[&std::ffi::OsStr],
    timeout: Duration,
) -> serde_json::Value {
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script).args(args);
    for var in ["http_proxy", "https_proxy", "all_proxy"] {
        cmd.env_remove(var).env_remove(var.to_ascii_uppercase());
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .expect("the python script timed out")
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the script failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the script printed no JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Polls `done` every 50 ms until it holds: how the tests observe an asynchronous change
/// (a reload, a session reaching the API server) instead of sleeping for a fixed time.
/// Panics naming `what` after 15 s.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
