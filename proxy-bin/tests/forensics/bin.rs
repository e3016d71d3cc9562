//! Running the `kubewitness` binary, finding recorded sessions, and tampering with a copy of
//! a file store the way an attacker with disk access would.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kubewitness_sim::testbed::Testbed;
use tokio::process::Command;

/// The longest a forensics command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// What a `kubewitness` run produced.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

impl Out {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The stdout as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    #[track_caller]
    pub(crate) fn ok(&self) -> &Out {
        assert_eq!(
            self.code,
            Some(0),
            "kubewitness failed: stdout: {} stderr: {}",
            self.text(),
            self.stderr
        );
        self
    }
}

/// Runs `kubewitness ARGS` with `env` added to a clean environment.
pub(crate) async fn kubewitness_env(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubewitness"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("kubewitness {args:?} timed out"))
        .expect("kubewitness runs");
    Out {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `kubewitness ARGS`.
pub(crate) async fn kubewitness(args: &[&str]) -> Out {
    kubewitness_env(args, &[]).await
}

/// The testbed's recording directory.
pub(crate) fn recordings(bed: &Testbed) -> PathBuf {
    bed.dir().join("recordings")
}

/// `file://DIR`.
pub(crate) fn url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// The session directories under `dir` that have a seal, sorted (ULIDs sort by time).
pub(crate) fn sealed_sessions(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.path().join("seal").exists())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

/// Waits until `n` sessions under `dir` are sealed (sealing follows the session's end).
pub(crate) async fn wait_sealed(dir: &Path, n: usize) -> Vec<String> {
    for _ in 0..400 {
        let ids = sealed_sessions(dir);
        if ids.len() >= n {
            assert_eq!(ids.len(), n, "more sessions than expected: {ids:?}");
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{n} sessions were not sealed in {}", dir.display());
}

/// Copies a store directory (objects stay read-only, as written).
pub(crate) fn copy_store(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_store(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Makes a read-only object writable again, as an attacker with disk access would.
pub(crate) fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    assert!(perms.readonly(), "{} was not read-only", path.display());
    perms.set_mode(perms.mode() | 0o200);
    std::fs::set_permissions(path, perms).unwrap();
}

/// `kubewitness export --store STORE --session ID --format FORMAT`.
pub(crate) async fn export(store: &str, session: &str, format: &str) -> Out {
    kubewitness(&[
        "export",
        "--store",
        store,
        "--session",
        session,
        "--format",
        format,
    ])
    .await
}
