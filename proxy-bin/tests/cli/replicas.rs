//! `kubewitness access …` against two `kubewitness serve` processes sharing one recording
//! store, as two replicas of a Deployment do: a request filed on one is approved on the
//! other, a one-use write is consumed by exactly one of them, an elevation approved on one
//! is in force on the other, and `kubewitness verify` notices a modified grant object.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use kubewitness_test_support::kubectl::{Client, kubectl_with, testbed_with};

use crate::serve::Served;

const POLICY: &str = "apiVersion: kubewitness/v1\nkind: Policy\n\
agents: {groups: [ai-agents]}\n\
rules:\n\
- name: read\n  subjects: {groups: [oncall, sre-leads]}\n  namespaces: ['*']\n  read: [pods]\n\
grants:\n\
- name: scale-api\n  requesters: {groups: [oncall]}\n  approvers: {groups: [sre-leads]}\n  \
maxTTL: 10m\n  write: {actions: [scale], namespaces: [shop], names: [api]}\n\
- name: default-exec\n  requesters: {groups: [oncall]}\n  approvers: {groups: [sre-leads]}\n  \
maxTTL: 1h\n  rule: {namespaces: [default], pods: ['*'], exec: {commands: [['**']]}}\n";

/// Two replicas: `kubewitness serve` twice, one store, one signing key, own spools.
async fn replicas() -> (Testbed, Served, Served) {
    let bed = testbed_with(TestbedOptions {
        users: vec![
            ("alice".into(), vec!["oncall".into()]),
            ("bob".into(), vec!["sre-leads".into()]),
        ],
        policy: Some(POLICY.into()),
        ..TestbedOptions::default()
    })
    .await;
    let a = Served::start_with(&bed, &recording(&bed, "a")).await;
    let b = Served::start_with(&bed, &recording(&bed, "b")).await;
    (bed, a, b)
}

fn recording(bed: &Testbed, instance: &str) -> String {
    let d = bed.dir();
    format!(
        "recording: {{store: 'file://{store}', spoolDir: {spool}, signingKey: {key}, \
         instance: {instance}}}\n",
        store = store_dir(bed).display(),
        spool = d.join(format!("spool-{instance}")).display(),
        key = d.join("recording.key").display(),
    )
}

fn store_dir(bed: &Testbed) -> PathBuf {
    bed.dir().join("recordings-serve")
}

/// What one `kubewitness` run printed.
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run(args: &[&str]) -> Out {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubewitness"))
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("kubewitness runs");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `kubewitness access ARGS --kubeconfig CONFIG`.
async fn access(config: &Path, args: &[&str]) -> Out {
    let mut all = vec!["access"];
    all.extend_from_slice(args);
    let config = config.to_str().expect("a UTF-8 path");
    all.extend_from_slice(&["--kubeconfig", config]);
    run(&all).await
}

#[track_caller]
fn ok(out: &Out) -> &str {
    assert_eq!(
        out.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    &out.stdout
}

/// The id a `request` printed alone on its first line.
fn first_line_id(out: &Out) -> String {
    let id = ok(out).lines().next().expect("a first line").to_string();
    assert_eq!(id.len(), 26, "a ULID alone on the first line: {id:?}");
    id
}

async fn verify(bed: &Testbed) -> Out {
    let store = format!("file://{}", store_dir(bed).display());
    let key = bed.dir().join("recording.pub");
    run(&[
        "verify",
        "--store",
        &store,
        "--public-key",
        key.to_str().unwrap(),
    ])
    .await
}

/// The writes (not dry runs) that reached the simulated API server at `path`.
fn writes_to(bed: &Testbed, path: &str) -> Vec<kubewitness_sim::RecordedRequest> {
    bed.sim
        .requests()
        .into_iter()
        .filter(|r| r.method == http::Method::PATCH && r.uri.path() == path)
        .filter(|r| !r.uri.query().unwrap_or("").contains("dryRun"))
        .collect()
}

#[tokio::test]
async fn two_replicas_share_requests_and_consume_a_one_use_write_once() {
    let (bed, a, b) = replicas().await;
    let (alice, bob) = (&bed.callers[0], &bed.callers[1]);
    let alice_a = a.kubeconfig(&bed, "alice", &alice.token);
    let alice_b = b.kubeconfig(&bed, "alice-b", &alice.token);
    let bob_b = b.kubeconfig(&bed, "bob", &bob.token);
    let scale_path = "/apis/apps/v1/namespaces/shop/deployments/api/scale";

    let filed = access(
        &alice_a,
        &[
            "request",
            "scale-api",
            "--reason",
            "api is wedged",
            "--action",
            "scale",
            "--namespace",
            "shop",
            "--name",
            "api",
            "--replicas",
            "3",
        ],
    )
    .await;
    let id = first_line_id(&filed);
    // Only the dry run has reached the API server.
    assert!(writes_to(&bed, scale_path).is_empty());
    assert!(
        bed.sim
            .requests()
            .iter()
            .any(|r| r.uri.path() == scale_path
                && r.uri.query().unwrap_or("").contains("dryRun=All")),
        "the request was dry-run upstream"
    );

    // The requester cannot approve, and an unapproved write cannot run.
    let own = access(&alice_a, &["approve", &id, "--reason", "me"]).await;
    assert_ne!(own.code, Some(0), "{}", own.stdout);
    let early = access(&alice_a, &["execute", &id]).await;
    assert_ne!(early.code, Some(0), "{}", early.stdout);
    assert!(writes_to(&bed, scale_path).is_empty());

    // Approved on the other replica.
    ok(&access(&bob_b, &["approve", &id, "--reason", "go ahead"]).await);

    // Both replicas try to run it at once: exactly one does.
    let execute = ["execute", id.as_str()];
    let (on_a, on_b) = tokio::join!(access(&alice_a, &execute), access(&alice_b, &execute));
    let wins = [&on_a, &on_b].iter().filter(|o| o.code == Some(0)).count();
    assert_eq!(
        wins, 1,
        "a: {} {} / b: {} {}",
        on_a.stdout, on_a.stderr, on_b.stdout, on_b.stderr
    );
    let sent = writes_to(&bed, scale_path);
    assert_eq!(sent.len(), 1, "the write reached the API server once");
    let groups: Vec<_> = sent[0]
        .headers
        .get_all("impersonate-group")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        groups.contains(&"kubewitness:breakglass".to_string()),
        "{groups:?}"
    );
    assert_eq!(sent[0].headers["impersonate-user"], "alice");

    // Both replicas now say it was used; a third attempt is refused.
    for config in [&alice_a, &alice_b] {
        let listed = access(config, &["list", "-o", "json"]).await;
        let v: serde_json::Value = serde_json::from_str(ok(&listed)).expect("JSON");
        let item = v["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["id"] == id.as_str())
            .expect("the request is listed")
            .clone();
        assert_eq!(item["state"], "used", "{item}");
    }
    let again = access(&alice_b, &["execute", &id]).await;
    assert_ne!(again.code, Some(0));
    assert_eq!(writes_to(&bed, scale_path).len(), 1);

    // The whole story verifies; a modified grant object does not.
    let good = verify(&bed).await;
    assert_eq!(good.code, Some(0), "{}{}", good.stdout, good.stderr);
    let request = store_dir(&bed).join("grants").join(&id).join("request");
    let mut bytes = std::fs::read(&request).expect("the request object is a file");
    let at = bytes
        .windows(13)
        .position(|w| w == b"api is wedged")
        .expect("the reason is in the object");
    bytes[at] = b'A';
    let mut perms = std::fs::metadata(&request).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&request, perms).unwrap();
    std::fs::write(&request, &bytes).unwrap();
    let bad = verify(&bed).await;
    assert_ne!(bad.code, Some(0), "{}", bad.stdout);
    let said = format!("{}{}", bad.stdout, bad.stderr);
    assert!(said.contains(&id), "verify names the grant: {said}");
}

#[tokio::test]
async fn an_elevation_approved_on_one_replica_is_in_force_on_the_other_until_revoked() {
    let (bed, a, b) = replicas().await;
    let (alice, bob) = (&bed.callers[0], &bed.callers[1]);
    let alice_a = a.kubeconfig(&bed, "alice", &alice.token);
    let bob_b = b.kubeconfig(&bed, "bob", &bob.token);
    let exec = ["exec", "web-0", "--", "echo", "elevated"];

    let denied = kubectl_with(&bed, &alice_a, Client::WebSocket, &exec, None).await;
    assert_ne!(denied.code, Some(0));
    assert!(
        denied.stderr.contains("default-exec")
            && denied.stderr.contains("kubewitness access request"),
        "the denial names the grant and the command: {}",
        denied.stderr
    );

    let filed = access(
        &alice_a,
        &[
            "request",
            "default-exec",
            "--reason",
            "debug web-0",
            "--ttl",
            "10m",
        ],
    )
    .await;
    let id = first_line_id(&filed);
    ok(&access(&bob_b, &["approve", &id, "--reason", "ok"]).await);

    // Replica a sees the approval made on b within its refresh interval.
    let mut allowed = None;
    for _ in 0..20 {
        let run = kubectl_with(&bed, &alice_a, Client::WebSocket, &exec, None).await;
        if run.code == Some(0) {
            allowed = Some(run);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let allowed = allowed.expect("the approved elevation lets alice exec through replica a");
    assert_eq!(allowed.stdout_str(), "elevated\n");

    ok(&access(&alice_a, &["revoke", &id, "--reason", "done"]).await);
    let mut revoked = false;
    for _ in 0..20 {
        let run = kubectl_with(&bed, &alice_a, Client::WebSocket, &exec, None).await;
        if run.code != Some(0) {
            revoked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(revoked, "a revoked elevation stops working");
    let good = verify(&bed).await;
    assert_eq!(good.code, Some(0), "{}{}", good.stdout, good.stderr);
}
