//! `kubewitness serve` as an operator runs it, in front of the simulated API server:
//! SIGHUP re-reads the policy and the token file without a restart.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use kubewitness_sim::testbed::{Testbed, TestbedOptions, client_kubeconfig};
use kubewitness_test_support::kubectl::{Client, kubectl_with, testbed_with};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const POLICY: &str = "apiVersion: kubewitness/v1\nkind: Policy\nrules:\n\
- name: sre-read\n  subjects: {groups: [sre]}\n  namespaces: [default]\n  read: [pods]\n";

/// A running `kubewitness serve` and the lines it logs.
struct Served {
    child: Child,
    log: mpsc::UnboundedReceiver<String>,
    port: u16,
}

impl Served {
    /// Starts `kubewitness serve` with the testbed's certificates, token file, policy and
    /// upstream, on a free port, and waits until it accepts connections.
    async fn start(bed: &Testbed) -> Served {
        let d = bed.dir();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let yaml = format!(
            "listen: 127.0.0.1:{port}\ntls: {{cert: {crt}, key: {key}}}\n\
             auth: {{tokenFile: {tokens}}}\nupstream: {{kubeconfig: {up}}}\n\
             policy: {policy}\naudit: {{path: {audit}}}\n",
            crt = d.join("server.crt").display(),
            key = d.join("server.key").display(),
            tokens = d.join("tokens.csv").display(),
            up = d.join("upstream.kubeconfig").display(),
            policy = d.join("policy.yaml").display(),
            audit = d.join("audit-serve.jsonl").display(),
        );
        let config = d.join("serve.yaml");
        std::fs::write(&config, yaml).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubewitness"))
            .args(["serve", "-c", config.to_str().unwrap()])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kubewitness serve starts");
        let (tx, log) = mpsc::unbounded_channel();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("serve: {line}");
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut served = Served { child, log, port };
        served.expect_log("kubewitness serving").await;
        served
    }

    /// A kubeconfig for `user` against this server.
    fn kubeconfig(&self, bed: &Testbed, user: &str, token: &str) -> PathBuf {
        let addr = ([127, 0, 0, 1], self.port).into();
        let path = bed.dir().join(format!("serve-{user}.kubeconfig"));
        std::fs::write(&path, client_kubeconfig(addr, bed.ca.ca_pem(), user, token)).unwrap();
        path
    }

    /// Waits (up to 15 s) for a logged line containing `needle`.
    async fn expect_log(&mut self, needle: &str) {
        let wait = async {
            while let Some(line) = self.log.recv().await {
                if line.contains(needle) {
                    return;
                }
            }
            panic!("kubewitness serve exited before logging {needle:?}");
        };
        tokio::time::timeout(Duration::from_secs(15), wait)
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} logged within 15 s"));
    }

    fn hangup(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

#[tokio::test]
async fn sighup_reloads_the_policy_and_the_token_file() {
    let bed = testbed_with(TestbedOptions {
        users: vec![
            ("alice".into(), vec!["sre".into()]),
            ("bob".into(), vec!["sre".into()]),
        ],
        policy: Some(POLICY.into()),
        ..TestbedOptions::default()
    })
    .await;
    let mut served = Served::start(&bed).await;
    let (alice, bob) = (&bed.callers[0], &bed.callers[1]);
    let alice_config = served.kubeconfig(&bed, "alice", &alice.token);
    let bob_config = served.kubeconfig(&bed, "bob", &bob.token);
    let get = ["get", "pods"];
    kubectl_with(&bed, &bob_config, Client::WebSocket, &get, None)
        .await
        .ok();

    // Unchanged files: only SIGHUP reloads them (the watchers reload on a change).
    served.hangup();
    served.expect_log("SIGHUP: reloading").await;
    served.expect_log("policy reloaded").await;
    served.expect_log("token file reloaded").await;

    // Bob's line goes and the policy no longer lets sre read pods; SIGHUP applies both.
    std::fs::write(
        bed.dir().join("tokens.csv"),
        format!("{},alice,uid-0,sre\n", alice.token),
    )
    .unwrap();
    std::fs::write(
        bed.dir().join("policy.yaml"),
        POLICY.replace("read: [pods]", "read: [configmaps]"),
    )
    .unwrap();
    served.hangup();
    served.expect_log("SIGHUP: reloading").await;
    let run = kubectl_with(&bed, &bob_config, Client::WebSocket, &get, None).await;
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr.contains("You must be logged in"),
        "{}",
        run.stderr
    );
    let run = kubectl_with(&bed, &alice_config, Client::WebSocket, &get, None).await;
    assert_ne!(run.code, Some(0), "pods are no longer readable");
    assert!(
        run.stderr.contains("Forbidden") || run.stderr.contains("forbidden"),
        "{}",
        run.stderr
    );
}
