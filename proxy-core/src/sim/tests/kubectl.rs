//! Real `/usr/bin/kubectl` against the simulated server over TLS. Skipped (with a message)
//! only when kubectl is not installed.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::super::{SimConfig, SimServer};

const KUBECTL: &str = "/usr/bin/kubectl";

/// A TLS sim, a kubeconfig for it and a private HOME/cache for kubectl.
pub(super) struct Kubectl {
    pub(super) server: SimServer,
    dir: tempfile::TempDir,
}

impl Kubectl {
    /// `None` when kubectl is absent.
    pub(super) async fn start(cfg: SimConfig) -> Option<Kubectl> {
        if !Path::new(KUBECTL).exists() {
            eprintln!("skipping: {KUBECTL} is not installed");
            return None;
        }
        let server = SimServer::start(SimConfig { tls: true, ..cfg })
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), server.kubeconfig()).unwrap();
        Some(Kubectl { server, dir })
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Runs kubectl with `args`, and `env` on top of a clean environment.
    pub(super) async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = tokio::process::Command::new(KUBECTL);
        cmd.arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("PATH", "/usr/bin:/bin")
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
            .await
            .expect("kubectl finished in time")
            .unwrap();
        eprintln!(
            "kubectl {args:?} {env:?} -> {:?}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn kubectl_get_and_logs() {
    let Some(k) = Kubectl::start(SimConfig::default()).await else {
        return;
    };
    let out = k.run(&["get", "pods"], &[]).await;
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("web-0") && text.contains("Running") && text.contains("1/1"),
        "{text}"
    );
    let out = k.run(&["get", "pods", "-A", "-l", "app=api"], &[]).await;
    assert!(out.status.success());
    assert!(stdout(&out).contains("api-7") && !stdout(&out).contains("web-0"));
    let out = k.run(&["logs", "web-0", "--tail=1"], &[]).await;
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        format!(
            "{}\n",
            k.server.config().pods[0].containers[0].log.last().unwrap()
        )
    );
    let out = k.run(&["-n", "shop", "logs", "api-7"], &[]).await;
    assert!(out.status.success());
    assert!(
        stdout(&out).starts_with("level=info msg=\"starting shop-api\""),
        "the default container is api"
    );
    let out = k.run(&["get", "pod", "nope"], &[]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pods \"nope\" not found"));
    for r in k.server.requests() {
        eprintln!(
            "{} {} accept={:?}",
            r.method,
            r.uri,
            r.headers.get("accept")
        );
    }
    assert!(k.server.requests().iter().any(|r| r.uri.path() == "/api"));
}
