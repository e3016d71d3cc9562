//! The spool on a full disk: a real `ENOSPC` from a 64 KiB tmpfs, mounted by the test (as
//! root, or else as "root" inside a fresh user and mount namespace: the test re-runs itself
//! under `unshare --user --map-root-user --mount`).
//!
//! A session whose chunks no longer fit ends at once with a message kubectl prints (fail
//! closed); what kubectl printed is still recorded (the chunks that cannot be spooled go to
//! the store directly) and sealed; the proxy goes on serving, and once the failed write is
//! cleaned up the small sessions that fit work again.

use std::path::{Path, PathBuf};
use std::process::Command;

use proxy_core::record::{DEFAULT_WINDOW_BYTES, RecordStore};

use crate::front::Front;
use crate::support::*;

/// Set in the environment of the test re-run inside a user namespace.
const IN_NAMESPACE: &str = "KUBEWITNESS_FAULTS_IN_USERNS";
/// The tmpfs size: room for small chunks, not for a 256 KiB one.
const TMPFS_SIZE: &str = "64k";

/// A mounted tmpfs, unmounted on drop.
#[derive(Debug)]
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE},mode=0700")])
            .arg("tmpfs")
            .arg(path)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Tmpfs {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Mounts a tmpfs under `dir`; when that is not permitted, runs the calling test again
/// inside a new user and mount namespace (where it is) and returns `None`: the re-run is
/// the test, and it must have run exactly that one test.
fn tmpfs_or_rerun(dir: &Path) -> Option<Tmpfs> {
    let err = match Tmpfs::mount(&dir.join("tiny-spool")) {
        Ok(t) => return Some(t),
        Err(e) => e,
    };
    assert!(
        std::env::var_os(IN_NAMESPACE).is_none(),
        "cannot mount a tmpfs even inside a user namespace: {err}"
    );
    eprintln!("mounting a tmpfs is not permitted ({err}); re-running in a user namespace");
    // libtest names each test's thread after the test.
    let current = std::thread::current();
    let test = current
        .name()
        .expect("a test thread is named after its test");
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount"])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(IN_NAMESPACE, "1")
        .output()
        .expect("unshare runs (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the re-run in a user namespace failed"
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the re-run did not run {test}"
    );
    None
}

#[tokio::test]
async fn a_full_spool_disk_ends_the_session_cleanly_and_the_proxy_keeps_serving() {
    let scratch = tempfile::tempdir().unwrap();
    let Some(tmpfs) = tmpfs_or_rerun(scratch.path()) else {
        return;
    };
    let bed = testbed().await;
    let url = format!("file://{}", bed.dir().join("diskfull-store").display());
    let store = RecordStore::open(&url, &[], None).unwrap();
    let front = Front::start(&bed, "diskfull", store.clone(), tmpfs.path.clone()).await;
    let pin = seal_key(&bed);
    for client in BOTH {
        let before = store.sessions().await.unwrap();
        // 3 MB that does not compress: the first 256 KiB chunk cannot be spooled.
        let args = [
            "exec",
            "web-0",
            "--",
            "head",
            "-c",
            "3000000",
            "/dev/urandom",
        ];
        let run = kubectl_with(&bed, &front.kubeconfig, client, &args, None).await;
        assert_ne!(run.code, Some(0), "{client:?}");
        for part in [
            "cannot spool a chunk",
            "No space left on device",
            "unrecorded sessions are not allowed",
        ] {
            assert!(run.stderr.contains(part), "{client:?}: {}", run.stderr);
        }
        assert!(run.stdout.len() < 3_000_000, "{client:?}: not cut short");

        // Sealed without waiting for a restart, holding all kubectl printed: frames are
        // recorded before they are passed on, so the record may also hold what was on its
        // way to kubectl when the session ended (at most one window).
        let (id, report) = new_sealed_session(&store, &pin, &before).await;
        assert!(report.intact, "{client:?}: {:?}", report.problems);
        assert_eq!(report.end_reason.as_deref(), Some("ended"), "{client:?}");
        let (out, _) = exported_text(&store, &id).await;
        assert!(
            out.starts_with(&run.stdout) && out.len() - run.stdout.len() <= DEFAULT_WINDOW_BYTES,
            "{client:?}: kubectl printed {} bytes, the record holds {}",
            run.stdout.len(),
            out.len()
        );
        println!(
            "{client:?}: kubectl printed {} bytes, the record holds {}",
            run.stdout.len(),
            out.len()
        );

        // The proxy keeps serving: API calls, and a session small enough for the disk.
        let run = kubectl_with(&bed, &front.kubeconfig, client, &["get", "pods"], None).await;
        run.ok();
        assert!(run.stdout_str().contains("web-0"), "{client:?}");
        let before = store.sessions().await.unwrap();
        let args = ["exec", "web-0", "--", "echo", "still recording"];
        let run = kubectl_with(&bed, &front.kubeconfig, client, &args, None).await;
        run.ok();
        assert_eq!(run.stdout_str(), "still recording\n");
        let (_, report) = new_sealed_session(&store, &pin, &before).await;
        assert!(report.intact, "{client:?}: {:?}", report.problems);
        assert_eq!(report.end_reason.as_deref(), Some("completed"));
    }
    drop(front);
    drop(tmpfs);
}
