//! The S3 backend against `moto_server` (`pip install 'moto[server]'`; `.ci/run` installs
//! it): a session recorded to a bucket with Object Lock verifies, a second write of
//! different bytes under an existing name is refused, and every object carries Object Lock
//! retention of at least its write time plus the configured period, also when written long
//! after the store was opened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use proxy_core::channel::Channel;
use proxy_core::pipeline::{EndReason, Pipeline, SessionEnd};
use proxy_core::record::store::{ObjectLock, chunk_name, seal_name};
use proxy_core::record::{
    Event, ObjectLockConfig, RecordStore, Recorder, RecordingConfig, SealSigner, SessionMeta,
};
use proxy_core::status::Status;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::bin::*;

const BUCKET: &str = "kw-recordings";
const PREFIX: &str = "prod/recordings";
const RETAIN: Duration = Duration::from_secs(86_400);

/// `moto_server` on PATH, if installed.
fn moto_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("moto_server"))
        .find(|p| p.is_file())
}

/// Starts `moto_server` on a free port; returns it and the port.
async fn start_moto(bin: &Path) -> (Child, u16) {
    let mut child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("moto_server starts");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let port = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("reads moto's log") {
            if let Some(url) = line.split("Running on http://127.0.0.1:").nth(1) {
                return url.trim().parse::<u16>().expect("a port");
            }
        }
        panic!("moto_server exited before listening");
    })
    .await
    .expect("moto_server listens in time");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

/// A raw HTTP/1.1 request to moto (which checks that a request is signed, not the
/// signature); returns the status and the headers, names lower-cased.
pub(crate) async fn http(
    port: u16,
    method: &str,
    path: &str,
    extra: &str,
) -> (u16, BTreeMap<String, String>) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let auth = "AWS4-HMAC-SHA256 Credential=moto/20250101/us-east-1/s3/aws4_request, \
                SignedHeaders=host, Signature=00";
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {auth}\r\n\
         {extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    conn.read_to_end(&mut resp).await.unwrap();
    let resp = String::from_utf8_lossy(&resp);
    let head = resp.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {resp}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

/// Object Lock mode, retain-until and last-modified of an object, from a HEAD.
async fn lock_of(port: u16, name: &str) -> (String, SystemTime, SystemTime) {
    let (status, h) = http(port, "HEAD", &format!("/{BUCKET}/{PREFIX}/{name}"), "").await;
    assert_eq!(status, 200, "HEAD {name}: {h:?}");
    let until = h
        .get("x-amz-object-lock-retain-until-date")
        .unwrap_or_else(|| panic!("{name} has no retention: {h:?}"));
    let modified = httpdate(&h["last-modified"]);
    let mode = h.get("x-amz-object-lock-mode").cloned().unwrap_or_default();
    (mode, humantime::parse_rfc3339(until).unwrap(), modified)
}

/// `Sun, 22 Nov 2026 15:38:56 GMT`.
fn httpdate(s: &str) -> SystemTime {
    let p: Vec<&str> = s.split([' ', ':']).collect();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == p[2])
    .unwrap_or_else(|| panic!("{s}"))
        + 1;
    let iso = format!(
        "{}-{month:02}-{:0>2}T{}:{}:{}Z",
        p[3], p[1], p[4], p[5], p[6]
    );
    humantime::parse_rfc3339(&iso).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Asserts an object's retention is the configured mode, until at least its write time
/// plus [`RETAIN`].
async fn assert_retained(port: u16, name: &str) -> SystemTime {
    let (mode, until, written) = lock_of(port, name).await;
    assert_eq!(mode, "GOVERNANCE", "{name}");
    assert!(
        until >= written + RETAIN,
        "{name} written {} is retained only until {}",
        humantime::format_rfc3339(written),
        humantime::format_rfc3339(until)
    );
    until
}

/// Starts `moto_server` with `bucket` (Object Lock enabled with `lock`); the server, its
/// port and the store options to reach it. `None` (a skip) when moto is not installed,
/// which fails under `CI`.
pub(crate) async fn moto_bucket(
    bucket: &str,
    lock: bool,
) -> Option<(Child, u16, Vec<(String, String)>)> {
    let Some(bin) = moto_server() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "moto_server is required in CI (.ci/run installs it)"
        );
        eprintln!("skipped: moto_server not installed (pip install 'moto[server]')");
        return None;
    };
    let (moto, port) = start_moto(&bin).await;
    let header = if lock {
        "x-amz-bucket-object-lock-enabled: true\r\n"
    } else {
        ""
    };
    let (status, h) = http(port, "PUT", &format!("/{bucket}"), header).await;
    assert_eq!(status, 200, "creating the bucket: {h:?}");
    let endpoint = format!("http://127.0.0.1:{port}");
    let options = [
        ("aws_endpoint", endpoint.as_str()),
        ("aws_allow_http", "true"),
        ("aws_region", "us-east-1"),
        ("aws_access_key_id", "moto"),
        ("aws_secret_access_key", "moto"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Some((moto, port, options))
}

#[tokio::test]
async fn s3_with_object_lock_refuses_overwrites_and_retains_every_object() {
    let Some((_moto, port, options)) = moto_bucket(BUCKET, true).await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let signer = SealSigner::from_seed(&[9; 32]);
    std::fs::write(tmp.path().join("rec.key"), signer.to_pkcs8_pem()).unwrap();
    std::fs::write(tmp.path().join("rec.pub"), signer.public_key_pem()).unwrap();
    let url = format!("s3://{BUCKET}/{PREFIX}");
    let config = RecordingConfig {
        store: url.clone(),
        store_options: options.iter().cloned().collect(),
        chunk_bytes: Some(1024),
        chunk_interval_ms: Some(50),
        window_bytes: Some(1 << 20),
        signing_key: Some(tmp.path().join("rec.key")),
        object_lock: Some(ObjectLockConfig {
            mode: "GOVERNANCE".into(),
            retain_days: 1,
        }),
        ..RecordingConfig::default()
    };
    assert!(config.problems().is_empty(), "{:?}", config.problems());

    // Record a session of several chunks.
    let recorder = Recorder::from_config(&config).expect("the S3 store opens");
    let meta = SessionMeta {
        kind: "exec".into(),
        user: "alice".into(),
        namespace: "default".into(),
        pod: "web-0".into(),
        argv: vec!["seq".into(), "1".into(), "600".into()],
        ..SessionMeta::default()
    };
    let handle = recorder.start(meta, Pipeline::new().end_handle());
    let mut want = Vec::new();
    for i in 1..=600 {
        let line = format!("{i}\n");
        want.extend_from_slice(line.as_bytes());
        handle
            .record(Event::Data {
                channel: Channel::Stdout,
                bytes: Bytes::from(line),
            })
            .expect("recorded");
    }
    handle.finish(&SessionEnd {
        reason: EndReason::Completed,
        status: Status::success(),
    });
    let id = handle.session_id().to_string();
    let store = recorder.store().clone();
    let mut sealed = false;
    for _ in 0..400 {
        if store.get(&seal_name(&id)).await.is_ok() {
            sealed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(sealed, "{id} was not sealed");

    // (a) The CLI verifies and exports it from S3.
    let mut args = vec!["verify".to_string(), "--store".into(), url.clone()];
    for (k, v) in &options {
        args.extend(["--store-option".to_string(), format!("{k}={v}")]);
    }
    let public = tmp.path().join("rec.pub").display().to_string();
    let mut verify: Vec<&str> = args.iter().map(String::as_str).collect();
    verify.extend(["--public-key", &public]);
    let out = kubewitness(&verify).await;
    out.ok();
    assert!(
        out.text().starts_with(&format!("{id}  ok  ")),
        "{}",
        out.text()
    );
    let mut export: Vec<&str> = args.iter().map(String::as_str).collect();
    export[0] = "export";
    export.extend(["--session", &id, "--format", "text"]);
    let out = kubewitness(&export).await;
    out.ok();
    assert_eq!(out.stdout, want);

    // (b) Different bytes under an existing name are refused; the original stays.
    let first = chunk_name(&id, 0);
    let original = store.get(&first).await.unwrap();
    let err = store
        .put_new(&first, Bytes::from_static(b"rewritten history"))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(store.get(&first).await.unwrap(), original);
    // The same bytes again (a retried upload) are accepted.
    store.put_new(&first, original.clone()).await.unwrap();

    // (c) Every object carries Object Lock retention from its own write time.
    let objects = store.objects(&id).await.unwrap();
    assert!(objects.len() >= 4, "{objects:?}");
    for name in &objects {
        assert_retained(port, &format!("{id}/{name}")).await;
    }

    // A store open for longer than its refresh interval still retains each new object for
    // the full period from its own write time (the retain-until date is not frozen at open).
    let lock = ObjectLock {
        mode: "GOVERNANCE".into(),
        retain: RETAIN,
    };
    let aged = RecordStore::open(&url, &options, Some(&lock))
        .unwrap()
        .with_lock_refresh(Duration::from_secs(1))
        .unwrap();
    aged.put_new("aged/early", Bytes::from_static(b"early"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    aged.put_new("aged/late", Bytes::from_static(b"late"))
        .await
        .unwrap();
    let early = assert_retained(port, "aged/early").await;
    let late = assert_retained(port, "aged/late").await;
    assert!(late > early, "the headers were not renewed");
}
