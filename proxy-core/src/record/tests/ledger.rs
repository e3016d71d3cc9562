//! The ledger in-process: a digest every interval even when nothing happened, and after a
//! crash the digest the crash missed, listing what was sealed and decided before it.

use std::time::Duration;

use super::super::digest::{Digest, digest_name};
use super::super::{StoreCheck, verify_store};
use super::*;
use crate::policy::audit::AuditTee;

fn ledger_config(dir: &Path, interval: &str) -> RecordingConfig {
    let mut cfg = config(
        &format!("file://{}", dir.join("store").display()),
        Some(dir.join("spool")),
    );
    cfg.instance = Some("kw-t".into());
    cfg.digest_interval = Some(interval.into());
    cfg
}

async fn digest(store: &RecordStore, seq: u64) -> Option<Digest> {
    let obj = store.get(&digest_name("kw-t", seq)).await.ok()?;
    Some(Digest::parse(&obj).expect("a digest"))
}

async fn intact(store: &RecordStore) -> u64 {
    let check = StoreCheck {
        keys: vec![signer().verifying_key()],
        ..StoreCheck::default()
    };
    let r = verify_store(store, &check, &|| {}).await.unwrap();
    assert!(r.intact(), "{:?} {:?}", r.findings, r.sessions);
    r.digests
}

#[tokio::test]
async fn digests_are_written_every_interval_even_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ledger_config(dir.path(), "1s");
    let store = RecordStore::open(&cfg.store, &[], None).unwrap();
    let rec = Recorder::new(cfg, store.clone(), Some(signer()));
    rec.recover().await.unwrap();
    rec.start_digests().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let first = digest(&store, 0)
        .await
        .expect("a digest after one interval");
    assert!(first.body.sessions.is_empty() && first.body.audit.is_none());
    assert!(digest(&store, 1).await.is_some(), "a second interval");
    rec.close().await;
    assert!(intact(&store).await >= 3);
}

#[tokio::test]
async fn after_a_crash_the_missed_digest_lists_what_came_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ledger_config(dir.path(), "1h");
    let store = RecordStore::open(&cfg.store, &[], None).unwrap();
    let rec = Recorder::new(cfg.clone(), store.clone(), Some(signer()));
    rec.recover().await.unwrap();
    let ledger = rec.start_digests().await.unwrap();
    ledger.line(b"{\"decision\":\"deny\"}\n");
    let h = rec.start(meta(), Pipeline::new().end_handle());
    feed(&h, 10);
    h.finish(&completed());
    let id = h.session_id().to_string();
    sealed(&store, &id).await;
    // Give the writer the moment between storing the seal and noting it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The crash: no close, no digest after the start-up one.
    drop((rec, ledger));
    assert!(!digest(&store, 0).await.unwrap().body.recovered);
    assert!(digest(&store, 1).await.is_none());

    let rec = Recorder::new(cfg, store.clone(), Some(signer()));
    rec.recover().await.unwrap();
    rec.start_digests().await.unwrap();
    let d = digest(&store, 1).await.expect("the missed digest");
    assert!(d.body.recovered);
    assert_eq!(d.body.sessions.len(), 1);
    assert_eq!(d.body.sessions[0].session, id);
    assert!(d.body.audit.is_some(), "the denial is in an audit segment");
    rec.close().await;
    assert!(!digest(&store, 2).await.unwrap().body.recovered);
    assert_eq!(intact(&store).await, 3);
}

#[tokio::test]
async fn an_unsigned_chain_verifies_without_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ledger_config(dir.path(), "1h");
    let store = RecordStore::open(&cfg.store, &[], None).unwrap();
    for _ in 0..2 {
        let rec = Recorder::new(cfg.clone(), store.clone(), None);
        rec.recover().await.unwrap();
        rec.start_digests().await.unwrap();
        rec.close().await;
    }
    let r = verify_store(&store, &StoreCheck::default(), &|| {})
        .await
        .unwrap();
    assert!(r.intact(), "{:?}", r.findings);
    assert_eq!(r.digests, 4);
    // A key given: an unsigned chain is not trusted.
    let pinned = StoreCheck {
        keys: vec![signer().verifying_key()],
        ..StoreCheck::default()
    };
    let r = verify_store(&store, &pinned, &|| {}).await.unwrap();
    assert!(!r.intact());
}
