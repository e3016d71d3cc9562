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
        self.run_with_input(args, env, None).await
    }

    /// Like [`Kubectl::run`], writing `input` to kubectl's stdin and then closing it.
    pub(super) async fn run_with_input(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        input: Option<&[u8]>,
    ) -> Output {
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
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if let Some(input) = input {
            use tokio::io::AsyncWriteExt as _;
            stdin.write_all(input).await.unwrap();
        }
        drop(stdin);
        let out =
            tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
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

#[tokio::test]
async fn kubectl_exec_over_websocket_and_spdy() {
    let Some(k) = Kubectl::start(SimConfig::default()).await else {
        return;
    };
    for env in [
        &[][..],
        &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")][..],
    ] {
        let out = k.run(&["exec", "web-0", "--", "echo", "hi"], env).await;
        assert!(out.status.success(), "{env:?}");
        assert_eq!(stdout(&out), "hi\n", "{env:?}");
        let out = k
            .run(&["exec", "web-0", "--", "sh", "-c", "exit 7"], env)
            .await;
        assert_eq!(out.status.code(), Some(7), "{env:?}");
        let out = k
            .run(
                &[
                    "-n",
                    "shop",
                    "exec",
                    "api-7",
                    "--",
                    "sh",
                    "-c",
                    "echo $HOSTNAME",
                ],
                env,
            )
            .await;
        assert_eq!(stdout(&out), "api-7\n", "{env:?}");
        let input = [b'x'; 100_000];
        let args = ["exec", "-i", "web-0", "--", "wc", "-c"];
        let out = k.run_with_input(&args, env, Some(&input)).await;
        assert_eq!(
            stdout(&out).trim(),
            "100000",
            "stdin EOF reaches the process ({env:?})"
        );
    }
    let upgrades: Vec<(String, Option<String>)> = k
        .server
        .requests()
        .iter()
        .filter(|r| r.uri.path().ends_with("/exec"))
        .map(|r| {
            (
                r.method.to_string(),
                r.headers
                    .get("upgrade")
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        })
        .collect();
    eprintln!("exec requests: {upgrades:?}");
    assert!(
        upgrades
            .iter()
            .any(|(m, u)| m == "GET" && u.as_deref() == Some("websocket"))
    );
    assert!(
        upgrades
            .iter()
            .any(|(m, u)| m == "POST" && u.as_deref() == Some("SPDY/3.1"))
    );
}

#[tokio::test]
async fn kubectl_falls_back_to_spdy_when_websocket_is_disabled() {
    let cfg = SimConfig {
        websocket: false,
        ..SimConfig::default()
    };
    let Some(k) = Kubectl::start(cfg).await else {
        return;
    };
    let out = k
        .run(&["exec", "web-0", "--", "echo", "fallback"], &[])
        .await;
    assert!(out.status.success());
    assert_eq!(stdout(&out), "fallback\n");
}
