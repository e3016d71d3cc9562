//! Digests and audit segments against an insider with write access to the store: each
//! tamper case, done to a copy of a `file://` store, is named by `kubewitness verify`
//! (exit 1) and by the independent `tools/verify_recordings.py`, and both agree on the
//! exit code, every finding and every failed session.

use std::path::Path;
use std::time::Duration;

use proxy_core::record::digest::{Digest, digest_name, encode};
use proxy_core::record::{RecordStore, Recorder};

use crate::bin::*;
use crate::ledger::*;

/// Asserts both verifiers name exactly the finding kinds `kinds` (and agree on everything).
async fn check(case: &str, dir: &Path, args: &[&str], kinds: &[&str]) -> Verdict {
    agree(case, &url(dir), &[], dir, args, kinds).await
}

/// The digest object of `seq`.
fn digest_path(dir: &Path, seq: u64) -> std::path::PathBuf {
    dir.join(digest_name(INSTANCE, seq))
}

fn remove(path: &Path) {
    if path.is_dir() {
        std::fs::remove_dir_all(path).unwrap();
    } else {
        std::fs::remove_file(path).unwrap();
    }
}

/// The audit segment digest `seq` lists.
fn audit_segment(dir: &Path, seq: u64) -> std::path::PathBuf {
    let d = Digest::parse(&std::fs::read(digest_path(dir, seq)).unwrap()).unwrap();
    let seg = d.body.audit.expect("an audit segment").session;
    dir.join("audit").join(INSTANCE).join(seg)
}

/// Records a session into a side store with `key` and no digests; copies it into `dir`.
async fn side_session(side: &Path, key: &Path, into: &[&Path]) -> String {
    let cfg = proxy_core::record::RecordingConfig {
        store: url(side),
        signing_key: Some(key.to_path_buf()),
        ..Default::default()
    };
    let rec = Recorder::from_config(&cfg).unwrap();
    let id = record(&rec, "side").await;
    for d in into {
        copy_store(&side.join(&id), &d.join(&id));
    }
    id
}

#[tokio::test]
async fn every_tamper_case_is_named_and_both_verifiers_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (key, public, _) = new_key(t, "k1");
    let (evil, _, attacker) = new_key(t, "evil");
    let base = t.join("store");
    let cfg = config(&base, Some(&key), None);
    // Three runs, six digests: each run's start-up digest (0, 2, 4) and its last one (1: s1
    // s2, 3: s3, 5: s4, each with an audit segment).
    let run = Run::start(&cfg).await;
    let _s1 = run.session("s1").await;
    let _s2 = run.session("s2").await;
    run.close().await;
    // A session with the same key that no digest will list, as if injected later.
    let old = side_session(&t.join("side-old"), &key, &[]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let run = Run::start(&cfg).await;
    let s3 = run.session("s3").await;
    run.close().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let run = Run::start(&cfg).await;
    let _s4 = run.session("s4").await;
    run.close().await;
    let pk = public.display().to_string();

    check("intact", &base, &[], &[]).await;
    check("intact, key pinned", &base, &["--public-key", &pk], &[]).await;

    let case = |name: &str| {
        let d = t.join(name);
        copy_store(&base, &d);
        d
    };
    let d = case("session-deleted");
    remove(&d.join(&s3));
    let v = check("a deleted session", &d, &[], &["sessionMissing"]).await;
    assert!(v.findings.iter().any(|f| f.1 == s3), "{v:?}");

    let d = case("digest-deleted");
    remove(&digest_path(&d, 3));
    check("a deleted digest", &d, &[], &["digestMissing", "unlisted"]).await;

    let d = case("audit-deleted");
    remove(&audit_segment(&d, 1));
    check("a deleted audit segment", &d, &[], &["auditMissing"]).await;

    let d = case("audit-modified");
    let chunk = audit_segment(&d, 3).join("0000000000.chunk");
    make_writable(&chunk);
    let mut bytes = std::fs::read(&chunk).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 1;
    std::fs::write(&chunk, bytes).unwrap();
    check("a modified audit segment", &d, &[], &["auditModified"]).await;

    let d = case("injected");
    copy_store(&t.join("side-old").join(&old), &d.join(&old));
    check("an injected session", &d, &[], &["unlisted"]).await;

    let d = case("forged");
    let forged = side_session(&t.join("side-evil"), &evil, &[&d]).await;
    let v = check("a session forged with another key", &d, &[], &[]).await;
    assert_eq!(v.failed.iter().collect::<Vec<_>>(), [&forged], "{v:?}");

    let d = case("digest-replaced");
    let path = digest_path(&d, 3);
    let mut body = Digest::parse(&std::fs::read(&path).unwrap()).unwrap().body;
    body.sessions.clear();
    body.signer = Some(attacker.info());
    make_writable(&path);
    std::fs::write(&path, encode(&body, Some(&attacker))).unwrap();
    check(
        "a digest replaced and signed by another key",
        &d,
        &[],
        &["digestModified", "digestUnknownKey", "unlisted"],
    )
    .await;

    let d = case("tail-deleted");
    remove(&digest_path(&d, 5));
    // The tail alone: nothing later disowns it; `--until` past the last digest does.
    check("the newest digest deleted, no --until", &d, &[], &[]).await;
    let until = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    check(
        "the newest digest deleted, --until now",
        &d,
        &["--until", &until],
        &["truncated"],
    )
    .await;

    // The newest digest deleted while the instance is down: its next digest still follows
    // the deleted one (the head is kept in the spool), so the gap shows, and s4, which only
    // the deleted digest listed, ended more than an interval before the next one.
    remove(&digest_path(&base, 5));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let run = Run::start(&cfg).await;
    run.close().await;
    let v = check(
        "the newest digest deleted, then a restart",
        &base,
        &[],
        &["digestMissing", "unlisted"],
    )
    .await;
    let gap = ("digestMissing".to_string(), INSTANCE.to_string(), Some(5));
    assert!(v.findings.contains(&gap), "{v:?}");
}

#[tokio::test]
async fn a_key_rotation_verifies_from_the_first_key() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (k1, p1, _) = new_key(t, "k1");
    let (k2, p2, _) = new_key(t, "k2");
    let dir = t.join("store");
    let run = Run::start(&config(&dir, Some(&k1), None)).await;
    run.session("before").await;
    run.close().await;
    // Rotation: the next digest (the start-up one, 2) is signed by k1 and names k2; later
    // ones are k2's.
    let run = Run::start(&config(&dir, Some(&k2), Some(&k1))).await;
    run.session("during").await;
    run.close().await;
    let run = Run::start(&config(&dir, Some(&k2), None)).await;
    run.session("after").await;
    run.close().await;
    let d2 = Digest::parse(&std::fs::read(dir.join(digest_name(INSTANCE, 2))).unwrap()).unwrap();
    assert!(d2.body.next_signer.is_some(), "{:?}", d2.body);

    let (p1, p2) = (p1.display().to_string(), p2.display().to_string());
    check(
        "a rotation, trusting the first key",
        &dir,
        &["--public-key", &p1],
        &[],
    )
    .await;
    check("a rotation, trust on first use", &dir, &[], &[]).await;
    check(
        "a rotation, trusting only the second key",
        &dir,
        &["--public-key", &p2],
        &["digestUnknownKey"],
    )
    .await;
}

#[tokio::test]
async fn a_version_1_store_still_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, public, _) = new_key(tmp.path(), "k");
    let dir = tmp.path().join("store");
    let cfg = proxy_core::record::RecordingConfig {
        store: url(&dir),
        signing_key: Some(key),
        ..Default::default()
    };
    // Without digests, as version 1 wrote it.
    let rec = Recorder::from_config(&cfg).unwrap();
    record(&rec, "v1").await;
    let _ = RecordStore::open(&url(&dir), &[], None).unwrap();
    check(
        "version 1",
        &dir,
        &["--public-key", &public.display().to_string()],
        &[],
    )
    .await;
    let out = kubewitness(&["verify", "--store", &url(&dir)]).await;
    assert!(
        out.ok().text().contains("no digests: a version 1 store"),
        "{}",
        out.text()
    );
}
