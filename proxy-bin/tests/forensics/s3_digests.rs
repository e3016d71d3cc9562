//! The digest tamper cases on S3 without Object Lock (what an insider with bucket write
//! access can do), against `moto_server`: `kubewitness verify` reads the bucket; the Python
//! verifier reads a copy of the bucket in a directory; both must agree.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use proxy_core::record::digest::{Digest, digest_name, encode};
use proxy_core::record::{RecordStore, Recorder, RecordingConfig};

use crate::ledger::*;
use crate::s3::{http, moto_bucket};

const BUCKET: &str = "kw-evidence";
const PREFIX: &str = "prod";

/// Every object of the store, by name.
async fn objects(store: &RecordStore) -> Vec<(String, Bytes)> {
    let mut names: Vec<String> = store
        .sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s + "/")
        .collect();
    for top in ["digests", "audit"] {
        for i in store.folders(Some(top)).await.unwrap() {
            names.push(format!("{top}/{i}/"));
            if top == "audit" {
                for seg in store.folders(Some(&format!("audit/{i}"))).await.unwrap() {
                    names.push(format!("audit/{i}/{seg}/"));
                }
            }
        }
    }
    let mut out = Vec::new();
    for folder in names {
        let folder = folder.trim_end_matches('/');
        for n in store.objects(folder).await.unwrap() {
            let name = format!("{folder}/{n}");
            if !out.iter().any(|(o, _)| *o == name) {
                out.push((name.clone(), store.get(&name).await.unwrap()));
            }
        }
    }
    out
}

/// Copies the bucket into `dir` (for the Python verifier, which reads directories).
async fn mirror(store: &RecordStore, dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    for (name, bytes) in objects(store).await {
        let path = dir.join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// The full names of the objects under `prefix`.
async fn under(store: &RecordStore, prefix: &str) -> Vec<String> {
    let names = store.objects(prefix).await.unwrap();
    names.into_iter().map(|n| format!("{prefix}/{n}")).collect()
}

/// Deletes objects from the bucket (moto does not check signatures).
async fn delete(port: u16, names: &[String]) {
    for n in names {
        let (status, h) = http(port, "DELETE", &format!("/{BUCKET}/{PREFIX}/{n}"), "").await;
        assert_eq!(status, 204, "DELETE {n}: {h:?}");
    }
}

#[tokio::test]
async fn tampering_with_digests_on_s3_is_named_by_both_verifiers() {
    let Some((_moto, port, options)) = moto_bucket(BUCKET, false).await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (key, public, _) = new_key(t, "k1");
    let (evil, _, attacker) = new_key(t, "evil");
    let url = format!("s3://{BUCKET}/{PREFIX}");
    let cfg = RecordingConfig {
        store: url.clone(),
        store_options: options.iter().cloned().collect(),
        ..config(&t.join("unused"), Some(&key), None)
    };
    let run = Run::start(&cfg).await;
    let s1 = run.session("s1").await;
    run.close().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let run = Run::start(&cfg).await;
    run.session("s2").await;
    run.close().await;
    let store = RecordStore::open(&url, &options, None).unwrap();
    let store_args: Vec<String> = options
        .iter()
        .flat_map(|(k, v)| ["--store-option".to_string(), format!("{k}={v}")])
        .collect();
    let store_args: Vec<&str> = store_args.iter().map(String::as_str).collect();
    let copy = t.join("mirror");
    let check = |case: &'static str, args: Vec<String>, kinds: &'static [&'static str]| {
        let (store, copy, store_args, url) = (&store, &copy, &store_args, &url);
        async move {
            mirror(store, copy).await;
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            agree(case, url, store_args, copy, &args, kinds).await
        }
    };
    check("intact", vec![], &[]).await;

    // Each case tampers, checks, and puts the objects back.
    let saved = |names: Vec<String>| {
        let store = &store;
        async move {
            let mut out = Vec::new();
            for n in names {
                out.push((n.clone(), store.get(&n).await.unwrap()));
            }
            out
        }
    };
    let restore = |objects: Vec<(String, Bytes)>| {
        let store = &store;
        async move {
            for (n, b) in objects {
                store.put_new(&n, b).await.unwrap();
            }
        }
    };
    let session_objects = under(&store, &s1).await;
    let kept = saved(session_objects.clone()).await;
    delete(port, &session_objects).await;
    check("a deleted session", vec![], &["sessionMissing"]).await;
    restore(kept).await;

    // Two runs: digests 0 and 2 at start-up, 1 (s1) and 3 (s2) at shutdown.
    let d0 = digest_name(INSTANCE, 1);
    let kept = saved(vec![d0.clone()]).await;
    delete(port, std::slice::from_ref(&d0)).await;
    check("a deleted digest", vec![], &["digestMissing", "unlisted"]).await;
    restore(kept.clone()).await;

    let body = Digest::parse(&kept[0].1).unwrap().body;
    let segment = format!("audit/{INSTANCE}/{}", body.audit.clone().unwrap().session);
    let seg_objects = under(&store, &segment).await;
    let seg_kept = saved(seg_objects.clone()).await;
    delete(port, &seg_objects).await;
    check("a deleted audit segment", vec![], &["auditMissing"]).await;
    restore(seg_kept).await;

    let mut forged = body.clone();
    forged.signer = Some(attacker.info());
    let pinned = vec!["--public-key".to_string(), public.display().to_string()];
    delete(port, std::slice::from_ref(&d0)).await;
    store
        .put_new(&d0, encode(&forged, Some(&attacker)).into())
        .await
        .unwrap();
    check(
        "a digest replaced and signed by another key",
        pinned,
        &["digestModified", "digestUnknownKey", "unlisted"],
    )
    .await;
    delete(port, std::slice::from_ref(&d0)).await;
    restore(kept).await;

    let d1 = digest_name(INSTANCE, 3);
    let kept = saved(vec![d1.clone()]).await;
    delete(port, &[d1]).await;
    check("the newest digest deleted", vec![], &[]).await;
    let until = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    check(
        "the newest digest deleted, --until now",
        vec!["--until".into(), until],
        &["truncated"],
    )
    .await;
    restore(kept).await;

    let side = RecordingConfig {
        store: url.clone(),
        store_options: options.iter().cloned().collect(),
        signing_key: Some(evil),
        ..RecordingConfig::default()
    };
    let forged = record(&Recorder::from_config(&side).unwrap(), "forged").await;
    let v = check("a session forged with another key", vec![], &[]).await;
    assert_eq!(v.failed.iter().collect::<Vec<_>>(), [&forged], "{v:?}");
}

#[tokio::test]
async fn a_key_rotation_on_s3_verifies_from_the_first_key() {
    let Some((_moto, _port, options)) = moto_bucket(BUCKET, false).await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (k1, p1, _) = new_key(t, "k1");
    let (k2, p2, _) = new_key(t, "k2");
    let url = format!("s3://{BUCKET}/{PREFIX}");
    let on_s3 = |key: &Path, previous: Option<&Path>| RecordingConfig {
        store: url.clone(),
        store_options: options.iter().cloned().collect(),
        ..config(&t.join("unused"), Some(key), previous)
    };
    // k1, then the rotation run (its start-up digest is signed by k1 and names k2), then k2.
    for (what, cfg) in [
        ("before", on_s3(&k1, None)),
        ("during", on_s3(&k2, Some(&k1))),
        ("after", on_s3(&k2, None)),
    ] {
        let run = Run::start(&cfg).await;
        run.session(what).await;
        run.close().await;
    }
    let store = RecordStore::open(&url, &options, None).unwrap();
    let rotation = Digest::parse(&store.get(&digest_name(INSTANCE, 2)).await.unwrap()).unwrap();
    assert!(rotation.body.next_signer.is_some(), "{:?}", rotation.body);
    let copy = t.join("mirror");
    mirror(&store, &copy).await;
    let store_args: Vec<String> = options
        .iter()
        .flat_map(|(k, v)| ["--store-option".to_string(), format!("{k}={v}")])
        .collect();
    let store_args: Vec<&str> = store_args.iter().map(String::as_str).collect();
    let (p1, p2) = (p1.display().to_string(), p2.display().to_string());
    let first = ["--public-key", p1.as_str()];
    agree(
        "a rotation on S3, trusting the first key",
        &url,
        &store_args,
        &copy,
        &first,
        &[],
    )
    .await;
    let second = ["--public-key", p2.as_str()];
    let kinds = ["digestUnknownKey"];
    agree(
        "a rotation on S3, trusting only the second key",
        &url,
        &store_args,
        &copy,
        &second,
        &kinds,
    )
    .await;
}
