//! Recording tests: a real recorder writing to a file store, then tampering.

mod faults;
mod ledger;
mod tamper;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::event::SessionMeta;
use super::seal::SealSigner;
use super::store::RecordStore;
use super::{Event, Recorder, RecorderHandle, RecordingConfig, SessionReport, verify_session};
use crate::channel::Channel;
use crate::pipeline::{EndReason, Pipeline, SessionEnd};
use crate::status::Status;

pub(super) fn signer() -> SealSigner {
    SealSigner::from_seed(&[42; 32])
}

pub(super) fn config(store: &str, spool: Option<PathBuf>) -> RecordingConfig {
    RecordingConfig {
        store: store.into(),
        spool_dir: spool,
        // Small chunks: a short session spans several.
        chunk_bytes: Some(1024),
        chunk_interval_ms: Some(50),
        window_bytes: Some(1 << 20),
        ..Default::default()
    }
}

pub(super) fn meta() -> SessionMeta {
    SessionMeta {
        kind: "exec".into(),
        user: "alice".into(),
        groups: vec!["sre".into()],
        namespace: "default".into(),
        pod: "web-0".into(),
        argv: vec!["sh".into()],
        tty: true,
        ..Default::default()
    }
}

/// Feeds a session of `lines` stdout lines (plus stdin, a resize, stderr) to `h`.
pub(super) fn feed(h: &RecorderHandle, lines: usize) {
    h.record(Event::Data {
        channel: Channel::Resize,
        bytes: Bytes::from_static(br#"{"Width":100,"Height":30}"#),
    })
    .unwrap();
    h.record(Event::Data {
        channel: Channel::Stdin,
        bytes: Bytes::from_static(b"ls\n"),
    })
    .unwrap();
    for i in 0..lines {
        h.record(Event::Data {
            channel: Channel::Stdout,
            bytes: Bytes::from(format!("line {i} of the output\n")),
        })
        .unwrap();
    }
    h.record(Event::Data {
        channel: Channel::Stderr,
        bytes: Bytes::from_static(b"warning\n"),
    })
    .unwrap();
    h.record(Event::Close(Channel::Stdin)).unwrap();
}

pub(super) fn completed() -> SessionEnd {
    SessionEnd {
        reason: EndReason::Completed,
        status: Status::success(),
    }
}

/// Waits until `session` has a seal.
pub(super) async fn sealed(store: &RecordStore, session: &str) {
    for _ in 0..500 {
        if store.get(&super::store::seal_name(session)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{session} was never sealed");
}

/// Records one complete session into a file store at `dir`; returns its id.
pub(super) async fn record_one(dir: &Path, signer: Option<SealSigner>) -> String {
    let cfg = config(&format!("file://{}", dir.display()), None);
    let store = RecordStore::open(&cfg.store, &[], None).unwrap();
    let rec = Recorder::new(cfg, store.clone(), signer);
    let pipeline = Pipeline::new();
    let h = rec.start(meta(), pipeline.end_handle());
    feed(&h, 200);
    h.finish(&completed());
    let id = h.session_id().to_string();
    sealed(&store, &id).await;
    id
}

pub(super) async fn verify(dir: &Path, id: &str, pin: Option<&SealSigner>) -> SessionReport {
    let store = RecordStore::open(&format!("file://{}", dir.display()), &[], None).unwrap();
    let pin = pin.map(SealSigner::verifying_key);
    verify_session(&store, id, pin.as_ref(), &|| {}).await
}

#[tokio::test]
async fn a_recorded_session_verifies_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let id = record_one(dir.path(), Some(signer())).await;
    let r = verify(dir.path(), &id, Some(&signer())).await;
    assert!(r.intact, "{:?}", r.problems);
    assert!(r.pinned);
    assert!(r.chunks >= 4, "{} chunks", r.chunks);
    assert_eq!(r.end_reason.as_deref(), Some("completed"));
    assert_eq!(r.summary(), "ok");
    assert_eq!(r.bytes.stderr, 8);
    let store = RecordStore::open(&format!("file://{}", dir.path().display()), &[], None).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    super::export::text(&store, &id, &mut out, &mut err)
        .await
        .unwrap();
    let want: String = (0..200)
        .map(|i| format!("line {i} of the output\n"))
        .collect();
    assert_eq!(String::from_utf8(out).unwrap(), want);
    assert_eq!(err, b"warning\n");
    let mut cast = Vec::new();
    super::export::asciicast(&store, &id, &mut cast)
        .await
        .unwrap();
    let cast = String::from_utf8(cast).unwrap();
    let header: serde_json::Value = serde_json::from_str(cast.lines().next().unwrap()).unwrap();
    assert_eq!(
        (header["version"].as_u64(), header["width"].as_u64()),
        (Some(2), Some(100))
    );
    assert!(cast.contains(r#""r","100x30""#) && cast.contains(r#""i","ls\n""#));
    let mut jsonl = Vec::new();
    super::export::jsonl(&store, &id, &mut jsonl).await.unwrap();
    assert_eq!(String::from_utf8(jsonl).unwrap().lines().count(), 205);
    assert_eq!(store.sessions().await.unwrap(), [id]);
}

#[tokio::test]
async fn an_unsigned_deployment_verifies_but_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let id = record_one(dir.path(), None).await;
    let r = verify(dir.path(), &id, None).await;
    assert!(r.intact, "{:?}", r.problems);
    assert_eq!(r.summary(), "ok (unsigned)");
    // Pinning a key on an unsigned record fails.
    let r = verify(dir.path(), &id, Some(&signer())).await;
    assert!(!r.intact);
    assert!(matches!(r.problems[0], super::Problem::BadSignature { .. }));
}

#[tokio::test]
async fn the_window_refuses_events_when_storage_is_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&format!("file://{}", dir.path().display()), None);
    cfg.window_bytes = Some(4096);
    let store = RecordStore::open(&cfg.store, &[], None).unwrap();
    let rec = Recorder::new(cfg, store, None);
    let h = rec.start(meta(), Pipeline::new().end_handle());
    // Without yielding, the writer cannot drain: the window fills and refuses.
    let big = Bytes::from(vec![b'x'; 1000]);
    let mut refused = None;
    for _ in 0..10 {
        if let Err(e) = h.record(Event::Data {
            channel: Channel::Stdout,
            bytes: big.clone(),
        }) {
            refused = Some(e);
            break;
        }
    }
    assert_eq!(refused, Some(super::RecordError::Behind(4096)));
    let status = super::recording_failed(&refused.unwrap());
    assert_eq!(status.reason, "RecordingFailed");
    assert!(
        status.message.contains("cannot be recorded"),
        "{}",
        status.message
    );
}

pub(super) fn arc_store(store: impl object_store::ObjectStore) -> RecordStore {
    RecordStore::from_object_store(Arc::new(store), "test://")
}
