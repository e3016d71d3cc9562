//! The tamper matrix against the file store: every change is detected, named, not intact.

use std::path::{Path, PathBuf};

use super::super::Problem;
use super::super::chunk;
use super::super::seal::{self, Seal, SealSigner};
use super::{record_one, signer, verify};

fn writable(path: &Path) {
    let mut p = std::fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)] // Tampering on purpose.
    p.set_readonly(false);
    std::fs::set_permissions(path, p).unwrap();
}

fn overwrite(path: &Path, bytes: &[u8]) {
    writable(path);
    std::fs::write(path, bytes).unwrap();
}

fn chunk_path(dir: &Path, id: &str, seq: u64) -> PathBuf {
    dir.join(id).join(format!("{seq:010}.chunk"))
}

fn chunk_count(dir: &Path, id: &str) -> u64 {
    std::fs::read_dir(dir.join(id))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "chunk")
        })
        .count() as u64
}

/// A fresh signed recording in its own directory.
async fn fresh() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let id = record_one(dir.path(), Some(signer())).await;
    (dir, id)
}

/// Copies a recorded session directory so many tampers share one recording.
fn copy_of(src: &Path, id: &str) -> tempfile::TempDir {
    let dst = tempfile::tempdir().unwrap();
    std::fs::create_dir(dst.path().join(id)).unwrap();
    for e in std::fs::read_dir(src.join(id)).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dst.path().join(id).join(p.file_name().unwrap())).unwrap();
    }
    dst
}

#[tokio::test]
async fn flipping_any_byte_of_any_chunk_names_that_chunk() {
    let (dir, id) = fresh().await;
    let n = chunk_count(dir.path(), &id);
    assert!(n >= 4);
    for seq in 0..n {
        let original = std::fs::read(chunk_path(dir.path(), &id, seq)).unwrap();
        // Every header byte, then a stride through the payload.
        let offsets = (0..chunk::HEADER_LEN).chain((chunk::HEADER_LEN..original.len()).step_by(5));
        for at in offsets {
            let copy = copy_of(dir.path(), &id);
            let mut bad = original.clone();
            bad[at] ^= 0x20;
            overwrite(&chunk_path(copy.path(), &id, seq), &bad);
            let r = verify(copy.path(), &id, Some(&signer())).await;
            assert!(!r.intact, "chunk {seq} byte {at} flipped: still intact");
            assert!(
                matches!(&r.problems[0], Problem::ModifiedChunk { chunk, .. } if *chunk == seq),
                "chunk {seq} byte {at}: {:?}",
                r.problems
            );
        }
    }
}

#[tokio::test]
async fn flipping_any_byte_of_the_seal_is_detected() {
    let (dir, id) = fresh().await;
    let original = std::fs::read(dir.path().join(&id).join("seal")).unwrap();
    for at in 0..original.len() {
        let copy = copy_of(dir.path(), &id);
        let mut bad = original.clone();
        bad[at] ^= 0x01;
        overwrite(&copy.path().join(&id).join("seal"), &bad);
        let r = verify(copy.path(), &id, Some(&signer())).await;
        assert!(!r.intact, "seal byte {at} flipped: still intact");
        assert!(
            r.problems.iter().any(|p| matches!(
                p,
                Problem::BadSignature { .. }
                    | Problem::ModifiedSeal { .. }
                    | Problem::UnknownKey { .. }
            )),
            "seal byte {at}: {:?}",
            r.problems
        );
    }
}

#[tokio::test]
async fn deleting_any_chunk_names_it_missing() {
    let (dir, id) = fresh().await;
    let n = chunk_count(dir.path(), &id);
    for seq in 0..n {
        let copy = copy_of(dir.path(), &id);
        std::fs::remove_file(chunk_path(copy.path(), &id, seq)).unwrap();
        let r = verify(copy.path(), &id, None).await;
        assert!(!r.intact);
        assert!(
            r.problems.contains(&Problem::MissingChunk { chunk: seq }),
            "{seq}: {:?}",
            r.problems
        );
    }
}

#[tokio::test]
async fn swapping_two_chunks_is_reported_as_reordered() {
    let (dir, id) = fresh().await;
    let (a, b) = (
        std::fs::read(chunk_path(dir.path(), &id, 1)).unwrap(),
        std::fs::read(chunk_path(dir.path(), &id, 2)).unwrap(),
    );
    overwrite(&chunk_path(dir.path(), &id, 1), &b);
    overwrite(&chunk_path(dir.path(), &id, 2), &a);
    let r = verify(dir.path(), &id, Some(&signer())).await;
    assert!(!r.intact);
    assert_eq!(
        r.problems,
        [
            Problem::Reordered { chunk: 1, seq: 2 },
            Problem::Reordered { chunk: 2, seq: 1 }
        ]
    );
}

#[tokio::test]
async fn truncating_the_last_chunk_is_detected() {
    let (dir, id) = fresh().await;
    let last = chunk_count(dir.path(), &id) - 1;
    let path = chunk_path(dir.path(), &id, last);
    let bytes = std::fs::read(&path).unwrap();
    for keep in [0, 10, chunk::HEADER_LEN, bytes.len() - 1] {
        let copy = copy_of(dir.path(), &id);
        overwrite(&chunk_path(copy.path(), &id, last), &bytes[..keep]);
        let r = verify(copy.path(), &id, None).await;
        assert!(
            matches!(&r.problems[0], Problem::ModifiedChunk { chunk, .. } if *chunk == last),
            "kept {keep}: {:?}",
            r.problems
        );
    }
}

#[tokio::test]
async fn deleting_the_seal_leaves_it_unsealed() {
    let (dir, id) = fresh().await;
    let seal = dir.path().join(&id).join("seal");
    writable(&seal);
    std::fs::remove_file(seal).unwrap();
    let r = verify(dir.path(), &id, None).await;
    assert_eq!(r.problems, [Problem::Unsealed]);
    assert!(!r.intact);
}

#[tokio::test]
async fn a_chunk_appended_after_the_seal_is_extra_data() {
    let (dir, id) = fresh().await;
    let n = chunk_count(dir.path(), &id);
    let last = std::fs::read(chunk_path(dir.path(), &id, n - 1)).unwrap();
    // A well-formed continuation of the chain, as an attacker with the store would write it.
    let h = chunk::ChunkHeader::parse(&last).unwrap();
    let mut payload = Vec::new();
    super::super::Timed {
        t_us: 1,
        event: super::super::Event::Close(crate::channel::Channel::Stdin),
    }
    .encode(&mut payload);
    let extra = chunk::encode(h.session, n, &chunk::hash(&last), 1, &payload).unwrap();
    std::fs::write(chunk_path(dir.path(), &id, n), &extra).unwrap();
    let r = verify(dir.path(), &id, Some(&signer())).await;
    assert!(!r.intact);
    assert!(
        matches!(&r.problems[..], [Problem::ExtraAfterSeal { object }] if object.ends_with(&format!("{n:010}.chunk"))),
        "{:?}",
        r.problems
    );
    // Any other object in the session is extra data too.
    std::fs::remove_file(chunk_path(dir.path(), &id, n)).unwrap();
    std::fs::write(dir.path().join(&id).join("notes.txt"), b"x").unwrap();
    let r = verify(dir.path(), &id, None).await;
    assert!(
        matches!(&r.problems[..], [Problem::ExtraAfterSeal { .. }]),
        "{:?}",
        r.problems
    );
}

#[tokio::test]
async fn a_seal_resigned_with_another_key_is_an_unknown_key() {
    let (dir, id) = fresh().await;
    let path = dir.path().join(&id).join("seal");
    let mut s = Seal::parse(&std::fs::read(&path).unwrap()).unwrap();
    let other = SealSigner::from_seed(&[9; 32]);
    s.body.signer = Some(other.info());
    s.body.end.exit_code = Some(0);
    overwrite(&path, &seal::encode(&s.body, Some(&other)));
    // Without a pinned key: chunk 0 declared the real signer.
    let r = verify(dir.path(), &id, None).await;
    assert!(!r.intact);
    assert!(
        r.problems.contains(&Problem::UnknownKey {
            fingerprint: other.info().fingerprint
        }),
        "{:?}",
        r.problems
    );
    // With the real key pinned.
    let r = verify(dir.path(), &id, Some(&signer())).await;
    assert!(
        r.problems
            .iter()
            .all(|p| matches!(p, Problem::UnknownKey { .. }))
    );
    assert!(!r.intact && !r.pinned);
    // An intact record checked against the wrong pinned key.
    let (dir, id) = fresh().await;
    let r = verify(dir.path(), &id, Some(&other)).await;
    assert!(
        matches!(&r.problems[..], [Problem::UnknownKey { .. }]),
        "{:?}",
        r.problems
    );
}

#[tokio::test]
async fn garbage_in_place_of_any_object_never_passes() {
    let (dir, id) = fresh().await;
    let n = chunk_count(dir.path(), &id);
    let mut x = 0x1234_5678_u64;
    for target in 0..=n {
        for len in [0usize, 1, 75, 76, 77, 500] {
            let copy = copy_of(dir.path(), &id);
            let garbage: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let path = if target == n {
                copy.path().join(&id).join("seal")
            } else {
                chunk_path(copy.path(), &id, target)
            };
            overwrite(&path, &garbage);
            let r = verify(copy.path(), &id, None).await;
            assert!(!r.intact, "garbage of {len} bytes in object {target}");
        }
    }
}
