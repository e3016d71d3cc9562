//! The `kubewitness` binary run as a user would: the offline commands, and `serve` in front
//! of the simulated API server.

use std::io::Write;
use std::process::{Command, Stdio};

mod access;
mod policy;
mod redact_k8s;
mod replicas;
mod serve;
mod shutdown;

fn kubewitness(args: &[&str], stdin: &[u8]) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubewitness"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubewitness runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A synthetic AWS access key id, assembled at run time.
fn aws_key() -> String {
    ["AK", "IA", "Z7Q3W5E8R2T4Y6U1"].concat()
}

#[test]
fn redact_masks_stdin_and_reports_findings_without_the_secret() {
    let key = aws_key();
    let input = format!("start\nAWS_ACCESS_KEY_ID={key}\nend\n");
    let (code, out, err) = kubewitness(&["redact", "--findings", "json"], input.as_bytes());
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "start\nAWS_ACCESS_KEY_ID=[REDACTED:aws-access-key-id]\nend\n"
    );
    let finding: serde_json::Value = serde_json::from_str(err.lines().next().unwrap()).unwrap();
    assert_eq!(finding["rule"], "aws-access-key-id");
    assert_eq!(finding["offset"], 24);
    assert_eq!(finding["len"], 20);
    assert!(!err.contains(&key));
    // Without --findings nothing is written to stderr.
    let (_, _, err) = kubewitness(&["redact"], input.as_bytes());
    assert_eq!(err, "");
}

#[test]
fn redact_reads_a_file_and_user_rules() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    std::fs::write(&file, "order 1 ok\ninternal ticket TKT-9f8e7d6c5b4a done\n").unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "rules:\n- id: ticket\n  regex: 'TKT-[0-9a-f]{12}'\n  keywords: [TKT-]\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let rules_arg = rules.display().to_string();
    let (code, out, err) = kubewitness(&["redact", "--rules", &rules_arg, &path], b"");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "order 1 ok\ninternal ticket [REDACTED:ticket] done\n");
}

#[test]
fn redact_refuses_a_bad_rules_file_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, "rules:\n- id: x\n  regex: 'a.*'\n  keywords: [a]\n").unwrap();
    let (code, _, err) = kubewitness(&["redact", "--rules", &rules.display().to_string()], b"");
    assert_eq!(code, Some(2));
    assert!(err.contains("rules[0]"), "{err}");
}

#[test]
fn policy_explain_promql_shows_the_decision_and_the_rewritten_query() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: kubewitness/v1\nkind: Policy\nrules:\n\
         - name: sre-metrics\n  subjects: {groups: [sre]}\n  \
         metrics: {namespaces: [shop, \"payments-*\"], maxRange: 1h, minStep: 10s}\n",
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    let explain = |user: &str, query: &str, extra: &[&str]| {
        let mut args = vec![
            "policy", "explain", "--policy", p, "--user", user, "--group", "sre", "promql", query,
        ];
        args.extend_from_slice(extra);
        kubewitness(&args, b"")
    };
    let q = r#"sum(rate(http_requests_total{status=~"5.."}[5m])) by (service)"#;
    let (code, out, err) = explain("alice", q, &["--range", "30m", "--step", "15s"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("allow\n"), "{out}");
    assert!(out.contains("rule: sre-metrics"), "{out}");
    assert!(
        out.contains(r#"rewritten: sum by (service) (rate(http_requests_total{namespace=~"shop|payments-.*",status=~"5.."}[5m]))"#),
        "{out}"
    );
    assert!(
        out.contains("series counted first: http_requests_total{"),
        "{out}"
    );
    assert!(out.contains("limit: maxRange 1h, minStep 10s"), "{out}");

    let (code, out, _) = explain("alice", r#"{__name__=~".+"}"#, &[]);
    assert_ne!(code, Some(0));
    assert!(
        out.starts_with("deny\n") && out.contains("names no metric"),
        "{out}"
    );
    let (_, out, _) = explain("alice", "up", &["--range", "7h"]);
    assert!(out.contains("maxRange is 1h"), "{out}");
    let (_, out, _) = explain("alice", "up", &["--range", "30m", "--step", "1s"]);
    assert!(out.contains("minStep 10s"), "{out}");
    let (code, out, _) = kubewitness(
        &[
            "policy", "explain", "--policy", p, "--user", "bob", "promql", "up",
        ],
        b"",
    );
    assert_ne!(code, Some(0));
    assert!(out.contains("no rule grants metrics to user bob"), "{out}");
}

/// An S3 endpoint that refuses every request with 403, as a store whose credentials or
/// bucket policy are wrong would: listing fails at once, without retries.
fn refusing_store() -> std::net::SocketAddr {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    addr
}

#[test]
fn serve_with_a_store_it_cannot_list_exits_1_naming_the_store() {
    let dir = tempfile::tempdir().unwrap();
    // The API server is never contacted before recovery; its address only has to parse.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
         clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: t}}]\n\
         contexts: [{name: c, context: {cluster: k, user: u}}]\n",
    )
    .unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "").unwrap();
    let store = refusing_store();
    let config = dir.path().join("kubewitness.yaml");
    let key_id = ["test", "-key-", "id"].concat();
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\nupstream: {{kubeconfig: {}}}\nauth: {{tokenFile: {}}}\n\
             recording:\n  store: s3://records/kw\n  spoolDir: {}\n  storeOptions:\n    \
             aws_endpoint: http://{store}\n    aws_allow_http: 'true'\n    \
             aws_region: us-east-1\n    aws_access_key_id: {key_id}\n    \
             aws_secret_access_key: {key_id}\n",
            kubeconfig.display(),
            tokens.display(),
            dir.path().join("spool").display(),
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kubewitness"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("KUBEWITNESS_LOG", "off")
        .stdin(Stdio::null())
        .output()
        .expect("kubewitness runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("kubewitness: recording store s3://records/kw: "),
        "{err}"
    );
}
