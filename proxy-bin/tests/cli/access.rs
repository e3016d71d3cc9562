//! `kubewitness access …` against a canned access-request API: the HTTP calls it makes
//! (method, path, body, credentials from the kubeconfig) and what it prints and exits with.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// What the server saw: method, path and query, `Authorization`, body.
type Seen = Arc<Mutex<Vec<(String, String, String, String)>>>;

const ID: &str = "01JEXAMPLE0000000000000000";

fn request_json(state: &str) -> Value {
    json!({
        "id": ID, "grant": "evict-wedged", "kind": "write", "requester": "claude",
        "requesterGroups": ["ai-agents"], "reason": "pod wedged", "ttlSeconds": 900,
        "createdAt": "2026-12-03T14:00:00Z", "state": state, "expiresAt": null,
        "approvals": [], "requiredApprovals": 1, "denial": null,
        "write": {"verb": "evict", "namespace": "shop", "name": "web-1"},
        "description": "evict pod shop/web-1", "digest": "sha256:00",
        "dryRun": {"code": 201, "message": "Success"}, "result": null
    })
}

fn status(code: u16, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
        "reason": "Forbidden", "code": code})
}

/// The canned answers, by method and path.
fn answer(method: &str, path: &str, body: &str) -> (u16, &'static str, String) {
    let base = "/kubewitness/v1/accessrequests";
    let json = "application/json";
    match (method, path.strip_prefix(base).unwrap_or("?")) {
        ("POST", "") if !body.contains(r#""grant":"nope""#) => {
            (201, json, request_json("pending").to_string())
        }
        ("GET", "") => (
            200,
            json,
            json!({"items": [request_json("pending")]}).to_string(),
        ),
        ("GET", p) if p == format!("/{ID}") => (200, json, request_json("pending").to_string()),
        ("POST", p) if p == format!("/{ID}/approve") => (
            403,
            json,
            status(403, "you cannot approve your own request").to_string(),
        ),
        ("POST", p) if p == format!("/{ID}/deny") => {
            (200, json, request_json("denied").to_string())
        }
        ("POST", p) if p == format!("/{ID}/execute") => (
            201,
            json,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}).to_string(),
        ),
        _ => (422, json, status(422, "no grant named nope").to_string()),
    }
}

async fn serve(seen: Seen) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let method = req.method().to_string();
                        let path = req.uri().path_and_query().unwrap().to_string();
                        let auth = req
                            .headers()
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let body = String::from_utf8(body.to_vec()).unwrap();
                        let (code, ct, out) = answer(&method, &path, &body);
                        seen.lock().unwrap().push((method, path, auth, body));
                        let res = Response::builder()
                            .status(code)
                            .header("content-type", ct)
                            .body(Full::new(Bytes::from(out)))
                            .unwrap();
                        Ok::<_, Infallible>(res)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A kubeconfig with two contexts: `good` (this server, a bearer token) and `elsewhere`.
fn kubeconfig(dir: &Path, addr: SocketAddr, token: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kw\n  cluster: {{server: \"http://{addr}\"}}\n- name: nowhere\n  cluster: {{server: \"http://127.0.0.1:9\"}}\nusers:\n- name: claude\n  user: {{token: \"{token}\"}}\ncontexts:\n- name: good\n  context: {{cluster: kw, user: claude}}\n- name: elsewhere\n  context: {{cluster: nowhere, user: claude}}\ncurrent-context: elsewhere\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn access(
    dir: &Path,
    env_kubeconfig: Option<&Path>,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubewitness"));
    cmd.arg("access")
        .args(args)
        .env("HOME", dir)
        .env_remove("KUBECONFIG");
    if let Some(k) = env_kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    let out = cmd.stdin(Stdio::null()).output().await.unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn access_commands_call_the_api_with_the_kubeconfigs_credentials() {
    let seen = Seen::default();
    let addr = serve(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = ["kw-test-", &std::process::id().to_string(), "-bearer"].concat();
    let kc = kubeconfig(dir.path(), addr, &token);
    let kc_arg = kc.to_str().unwrap();
    let with = |args: &[&'static str]| {
        let mut v = vec!["--kubeconfig", kc_arg, "--context", "good"];
        v.extend_from_slice(args);
        v
    };

    let (code, out, err) = access(
        dir.path(),
        None,
        &with(&[
            "request",
            "evict-wedged",
            "--reason",
            "pod wedged",
            "--action",
            "evict",
            "-n",
            "shop",
            "--name",
            "web-1",
            "--ttl",
            "10m",
        ]),
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().next(), Some(ID), "{out}");
    assert!(
        out.contains("action: evict pod shop/web-1") && out.contains("dry run: 201 Success"),
        "{out}"
    );
    let (method, path, auth, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/kubewitness/v1/accessrequests")
    );
    assert_eq!(auth, format!("Bearer {token}"));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({"grant": "evict-wedged", "reason": "pod wedged", "ttl": "10m", "action": "evict",
            "namespace": "shop", "name": "web-1", "workload": null, "replicas": null})
    );

    let (code, out, _) = access(dir.path(), None, &with(&["list", "-o", "json"])).await;
    assert_eq!(code, Some(0));
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["items"][0]["id"], ID);
    let (code, out, _) = access(dir.path(), None, &with(&["list"])).await;
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with("ID ") && out.lines().nth(1).unwrap().starts_with(ID),
        "{out}"
    );

    let (code, out, _) = access(dir.path(), None, &with(&["get", ID])).await;
    assert_eq!(
        (code, out.lines().next()),
        (Some(0), Some(format!("id: {ID}").as_str()))
    );

    // Refusals: the Status message on stderr; exit 1 when denied, 2 when malformed.
    let (code, out, err) = access(
        dir.path(),
        None,
        &with(&["approve", ID, "--reason", "lgtm"]),
    )
    .await;
    assert_eq!((code, out.as_str()), (Some(1), ""));
    assert!(err.contains("you cannot approve your own request"), "{err}");
    let (code, _, err) = access(
        dir.path(),
        None,
        &with(&["request", "nope", "--reason", "x"]),
    )
    .await;
    assert_eq!(code, Some(2));
    assert!(err.contains("no grant named nope"), "{err}");

    let (code, out, _) = access(
        dir.path(),
        None,
        &with(&["deny", ID, "--reason", "not now"]),
    )
    .await;
    assert_eq!(
        (code, out.lines().next()),
        (Some(0), Some(format!("{ID}: denied").as_str()))
    );
    let (code, out, _) = access(dir.path(), None, &with(&["execute", ID])).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("\"status\": \"Success\""), "{out}");

    // `$KUBECONFIG` when there is no --kubeconfig.
    let (code, _, err) = access(dir.path(), Some(&kc), &["--context", "good", "get", ID]).await;
    assert_eq!(code, Some(0), "{err}");

    let seen = seen.lock().unwrap().clone();
    let calls: Vec<(&str, &str, &str)> = seen
        .iter()
        .map(|(m, p, _, b)| (m.as_str(), p.as_str(), b.as_str()))
        .collect();
    let item = format!("/kubewitness/v1/accessrequests/{ID}");
    assert_eq!(
        calls[1..],
        [
            ("GET", "/kubewitness/v1/accessrequests", ""),
            ("GET", "/kubewitness/v1/accessrequests", ""),
            ("GET", item.as_str(), ""),
            (
                "POST",
                format!("{item}/approve").as_str(),
                r#"{"reason":"lgtm"}"#
            ),
            (
                "POST",
                "/kubewitness/v1/accessrequests",
                r#"{"action":null,"grant":"nope","name":null,"namespace":null,"reason":"x","replicas":null,"ttl":null,"workload":null}"#
            ),
            (
                "POST",
                format!("{item}/deny").as_str(),
                r#"{"reason":"not now"}"#
            ),
            ("POST", format!("{item}/execute").as_str(), ""),
            ("GET", item.as_str(), ""),
        ]
    );
    assert!(
        seen.iter()
            .all(|(_, _, auth, _)| auth == &format!("Bearer {token}"))
    );
}

#[tokio::test]
async fn access_failures_never_show_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = ["kw-test-", &std::process::id().to_string(), "-secret"].concat();
    // The current context points at a closed port.
    let kc = kubeconfig(dir.path(), "127.0.0.1:9".parse().unwrap(), &token);
    let (code, out, err) = access(dir.path(), Some(&kc), &["list"]).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("could not be reached"), "{err}");
    assert!(!out.contains(&token) && !err.contains(&token));
    // No kubeconfig at all is a usage error.
    let (code, _, err) = access(dir.path(), None, &["list"]).await;
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = access(dir.path(), Some(&kc), &["get", "../x"]).await;
    assert_eq!(code, Some(2), "{err}");
}
