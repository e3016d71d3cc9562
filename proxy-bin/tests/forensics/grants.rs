//! Access requests as evidence: the objects of one request's whole story (request,
//! approval, use, result), stored as the broker stores them and listed in the digests.
//! `verify` checks them and names a modified or deleted one; `sessions --grants` and
//! `export` show the story.

use std::path::Path;

use proxy_core::grants::Answer;
use proxy_core::grants::object::{ObjectBody, RequestDetails, Step, encode, object_name};
use proxy_core::grants::state::body;
use proxy_core::record::{Recorder, SealSigner};

use crate::bin::*;
use crate::ledger::*;

/// Stores one step as the broker does: signed, create-only, noted for the next digest.
async fn put(rec: &Recorder, signer: &SealSigner, mut b: ObjectBody) -> String {
    b.instance = INSTANCE.into();
    b.signer = Some(signer.info());
    let bytes = encode(&b, Some(signer));
    let name = object_name(&b.id, b.step, &b.user);
    rec.store()
        .put_new(&name, bytes.clone().into())
        .await
        .unwrap();
    rec.note_object(&name, &proxy_core::grants::object::sha256_hex(&bytes));
    proxy_core::grants::object::sha256_hex(&bytes)
}

/// A write request by `agent-7`, approved by `bob`, used once; returns its id.
async fn story(rec: &Recorder, signer: &SealSigner) -> String {
    let id = "01ARZ3NDEKTSV4RRFFQ69G5FAV".to_string();
    let mut req = body(
        Step::Request,
        &id,
        "agent-7",
        &["ai-agents".into()],
        "pod wedged",
    );
    req.request = Some(RequestDetails {
        grant: "evict-wedged".into(),
        kind: "write".into(),
        ttl_seconds: 900,
        pending_until_ms: req.at_ms + 900_000,
        required_approvals: 1,
        auto_approved: false,
        write: None,
        digest: Some(format!("sha256:{}", "ab".repeat(32))),
        description: Some("evict pod shop/web-1".into()),
        dry_run: Some(Answer {
            code: 201,
            message: "Status Success".into(),
        }),
    });
    let hash = put(rec, signer, req).await;
    let step = |s: Step, user: &str, reason: &str| {
        let mut b = body(s, &id, user, &[], reason);
        b.request_sha256 = Some(hash.clone());
        b
    };
    put(rec, signer, step(Step::Approval, "bob", "looked at it")).await;
    put(rec, signer, step(Step::Use, "agent-7", "")).await;
    let mut result = step(Step::Result, "agent-7", "");
    result.answer = Some(Answer {
        code: 201,
        message: "evicted".into(),
    });
    put(rec, signer, result).await;
    id
}

async fn verify(dir: &Path, public: &Path) -> Out {
    kubewitness(&[
        "verify",
        "--store",
        &url(dir),
        "--public-key",
        public.to_str().unwrap(),
    ])
    .await
}

#[tokio::test]
async fn grant_objects_are_verified_listed_and_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, public, signer) = new_key(tmp.path(), "k");
    let dir = tmp.path().join("store");
    let run = Run::start(&config(&dir, Some(&key), None)).await;
    let id = story(&run.rec, &signer).await;
    run.close().await;

    let ok = verify(&dir, &public).await;
    ok.ok();
    assert!(
        ok.text()
            .contains("access requests: 1 checked, 0 with problems"),
        "{}",
        ok.text()
    );

    let list = kubewitness(&["sessions", "--store", &url(&dir), "--grants", "-o", "json"]).await;
    let rows = list.ok().json();
    assert_eq!(rows[0]["id"], id.as_str());
    assert_eq!(rows[0]["state"], "used");
    assert_eq!(rows[0]["requester"], "agent-7");

    let out = kubewitness(&["export", "--store", &url(&dir), "--session", &id]).await;
    let story = out.ok().json();
    let r = &story["accessRequest"];
    assert_eq!(r["reason"], "pod wedged");
    assert_eq!(r["approvals"][0]["user"], "bob");
    assert_eq!(r["dryRun"]["code"], 201);
    assert_eq!(r["result"]["message"], "evicted");
    let steps: Vec<&str> = story["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["request", "approval", "use", "result"]);

    let py = python_ready();
    if py {
        assert_eq!(python_verdict(&dir, &[]).await.code, Some(0));
    }

    // One byte of the approval changed: named.
    let bad = tmp.path().join("modified");
    copy_store(&dir, &bad);
    let approval = bad.join(object_name(&id, Step::Approval, "bob"));
    make_writable(&approval);
    let mut bytes = std::fs::read(&approval).unwrap();
    let at = bytes
        .windows(12)
        .position(|w| w == b"looked at it")
        .unwrap();
    bytes[at] = b'L';
    std::fs::write(&approval, bytes).unwrap();
    let out = verify(&bad, &public).await;
    assert_eq!(out.code, Some(1), "{}", out.text());
    let name = object_name(&id, Step::Approval, "bob");
    assert!(
        out.text()
            .contains(&format!("FAIL  grant object {name} modified")),
        "{}",
        out.text()
    );

    // The result deleted: the digest that lists it names it.
    let gone = tmp.path().join("deleted");
    copy_store(&dir, &gone);
    let result = object_name(&id, Step::Result, "agent-7");
    std::fs::remove_file(gone.join(&result)).unwrap();
    let out = verify(&gone, &public).await;
    assert_eq!(out.code, Some(1), "{}", out.text());
    assert!(
        out.text().contains(&format!(
            "FAIL  grant object {result} listed in digest {INSTANCE}/"
        )),
        "{}",
        out.text()
    );
    // The independent verifier sees the deletion too (it checks what digests list).
    if py {
        let v = python_verdict(&gone, &[]).await;
        assert_eq!(v.code, Some(1));
        assert!(
            v.findings
                .contains(&("grantMissing".into(), result.clone(), None)),
            "{:?}",
            v.findings
        );
    }
}
