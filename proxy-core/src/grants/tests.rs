//! The broker's parts that need no policy decision: objects and their signatures, the
//! state a story folds to, the one-use race across two replicas on one store, the sweeper
//! and the webhook. (The end-to-end flow with a policy is in `tests_flow.rs`.)

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::object::{GrantObject, ObjectBody, RequestDetails, Step, encode, object_name};
use super::state::{Story, body};
use super::*;
use crate::config::NotifyConfig;
use crate::policy::Policy;
use crate::record::store::RecordStore;
use crate::record::{RecordingConfig, SealSigner};

pub(super) fn signer() -> SealSigner {
    SealSigner::from_seed(&[9; 32])
}

pub(super) fn who(user: &str, groups: &[&str]) -> Identity {
    Identity {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..Identity::default()
    }
}

/// A broker over a file store in `dir` (the same `dir` twice: two replicas).
pub(super) fn broker(dir: &std::path::Path, policy: Policy, notify: Option<String>) -> Grants {
    let url = format!("file://{}", dir.display());
    let store = RecordStore::open(&url, &[], None).unwrap();
    let cfg = RecordingConfig {
        store: url,
        instance: Some("kw-t".into()),
        ..RecordingConfig::default()
    };
    let recorder = Arc::new(crate::record::Recorder::new(cfg, store, Some(signer())));
    Grants::new(GrantsOptions {
        recorder,
        policy: Arc::new(crate::policy::store::PolicyStore::fixed(policy)),
        audit: AuditSink::writer(Box::new(std::io::sink())),
        config: GrantsConfig {
            breakglass_group: None,
            notify: notify.map(|url| NotifyConfig { url, timeout: None }),
        },
    })
}

pub(super) fn details(kind: &str, required: u32, ttl: u64, pending_ms: u64) -> RequestDetails {
    RequestDetails {
        grant: "g".into(),
        kind: kind.into(),
        ttl_seconds: ttl,
        pending_until_ms: pending_ms,
        required_approvals: required,
        auto_approved: false,
        write: None,
        digest: None,
        description: None,
        dry_run: None,
    }
}

/// Files a request by `alice` directly (no policy involved).
async fn filed(g: &Grants, d: RequestDetails) -> Story {
    let id = ulid::Ulid::generate().to_string();
    let alice = who("alice", &["oncall"]);
    let mine = (alice.user.as_str(), alice.groups.as_slice());
    g.put_step(&id, Step::Request, mine, "wedged", None, |b| {
        b.request = Some(d)
    })
    .await
    .unwrap();
    g.story(&id).await.unwrap()
}

async fn step(g: &Grants, s: &Story, step: Step, user: &str) -> Result<Story, GrantError> {
    let id = s.request.body.id.clone();
    g.put_step(&id, step, (user, &[]), "ok", Some(s), |_| {})
        .await?;
    g.story(&id).await
}

fn far() -> u64 {
    state::ms(std::time::SystemTime::now()) + 3_600_000
}

fn object(step: Step, id: &str, user: &str, request: Option<&GrantObject>) -> GrantObject {
    let mut b: ObjectBody = body(step, id, user, &[], "r");
    b.instance = "kw-t".into();
    b.request_sha256 = request.map(|r| r.sha256.clone());
    b.signer = Some(signer().info());
    if step == Step::Request {
        b.request = Some(details("write", 1, 60, far()));
    }
    GrantObject::parse(&encode(&b, Some(&signer()))).unwrap()
}

#[test]
fn objects_verify_and_any_flip_breaks_them() {
    let id = ulid::Ulid::generate().to_string();
    let mut b = body(Step::Request, &id, "alice", &["oncall".into()], "why");
    b.instance = "kw-t".into();
    b.signer = Some(signer().info());
    b.request = Some(details("elevation", 1, 60, far()));
    let obj = encode(&b, Some(&signer()));
    let key = signer().verifying_key();
    let parsed = GrantObject::parse(&obj).unwrap();
    assert_eq!(parsed.body, b);
    parsed.check_key(Some(&key)).unwrap();
    for i in 0..obj.len() {
        let mut bad = obj.clone();
        bad[i] ^= 0x01;
        let ok = GrantObject::parse(&bad).is_ok_and(|o| o.check_key(Some(&key)).is_ok());
        assert!(!ok, "flip at {i} still verifies");
    }
    // Another key, no key, a seal's context: all refused.
    let other = SealSigner::from_seed(&[1; 32]);
    let mut b2 = b.clone();
    b2.signer = Some(other.info());
    let foreign = GrantObject::parse(&encode(&b2, Some(&other))).unwrap();
    assert!(foreign.check_key(Some(&key)).is_err());
    let mut b3 = b.clone();
    b3.signer = None;
    let unsigned = GrantObject::parse(&encode(&b3, None)).unwrap();
    assert!(unsigned.check_key(Some(&key)).is_err());
    unsigned.check_key(None).unwrap();
    let raw = serde_json::to_vec(&b).unwrap();
    let seal_ctx =
        crate::record::signed::encode(&raw, crate::record::seal::SIGNING_CONTEXT, Some(&signer()));
    let forged = GrantObject::parse(&seal_ctx).unwrap();
    assert!(forged.check_key(Some(&key)).is_err());
}

#[test]
fn malformed_objects_are_refused() {
    let id = ulid::Ulid::generate().to_string();
    let req = object(Step::Request, &id, "alice", None);
    let mut no_hash = body(Step::Approval, &id, "bob", &[], "r");
    no_hash.instance = "kw-t".into();
    assert!(GrantObject::parse(&encode(&no_hash, None)).is_err());
    let mut details_elsewhere = no_hash.clone();
    details_elsewhere.request_sha256 = Some(req.sha256.clone());
    details_elsewhere.request = Some(details("write", 1, 1, 1));
    assert!(GrantObject::parse(&encode(&details_elsewhere, None)).is_err());
    let mut bad_id = no_hash;
    bad_id.id = "../../etc".into();
    bad_id.request_sha256 = Some(req.sha256.clone());
    assert!(GrantObject::parse(&encode(&bad_id, None)).is_err());
    let huge = vec![b'x'; object::MAX_GRANT_OBJECT_LEN + 1];
    assert!(GrantObject::parse(&huge).is_err());
}

#[test]
fn a_story_folds_to_its_state() {
    let id = ulid::Ulid::generate().to_string();
    let req = object(Step::Request, &id, "alice", None);
    let leaf = |o: &GrantObject| {
        let name = object_name(&id, o.body.step, &o.body.user);
        name.rsplit('/').next().unwrap().to_string()
    };
    let with = |extra: Vec<GrantObject>, required: u32| {
        let mut r = req.clone();
        r.body.request.as_mut().unwrap().required_approvals = required;
        let mut all = vec![(leaf(&r), r)];
        all.extend(extra.into_iter().map(|o| (leaf(&o), o)));
        Story::assemble(&id, all).unwrap()
    };
    let now = req.body.at_ms;
    assert_eq!(with(vec![], 1).state(now), State::Pending);
    // The requester's own approval never counts.
    let own = object(Step::Approval, &id, "alice", Some(&req));
    assert_eq!(with(vec![own.clone()], 1).state(now), State::Pending);
    let bob = object(Step::Approval, &id, "bob", Some(&req));
    let carol = object(Step::Approval, &id, "carol", Some(&req));
    assert_eq!(with(vec![bob.clone()], 2).state(now), State::Pending);
    let two = with(vec![own, bob.clone(), carol.clone()], 2);
    assert_eq!(two.state(now), State::Approved);
    assert_eq!(two.view(now).approvals.len(), 2);
    // The TTL runs from the approval that completed it.
    let end = two.expires_at_ms().unwrap();
    assert_eq!(end, carol.body.at_ms.max(bob.body.at_ms) + 60_000);
    assert_eq!(two.state(end), State::Expired);
    let used = object(Step::Use, &id, "alice", Some(&req));
    assert_eq!(with(vec![bob.clone(), used], 1).state(now), State::Used);
    let revoked = object(Step::Revocation, &id, "alice", Some(&req));
    assert_eq!(with(vec![bob, revoked], 1).state(now), State::Revoked);
    let denied = object(Step::Denial, &id, "carol", Some(&req));
    assert_eq!(with(vec![denied], 1).state(now), State::Denied);
    // Pending past the grant's maxTTL: expired.
    assert_eq!(with(vec![], 1).state(far() + 1), State::Expired);
}

#[test]
fn a_story_refuses_moved_or_foreign_objects() {
    let id = ulid::Ulid::generate().to_string();
    let req = object(Step::Request, &id, "alice", None);
    let other = object(Step::Request, &id, "mallory", None);
    let foreign = object(Step::Approval, &id, "bob", Some(&other));
    let bob_leaf = object::approval_leaf("bob");
    let res = Story::assemble(
        &id,
        vec![("request".into(), req.clone()), (bob_leaf, foreign)],
    );
    assert!(matches!(res, Err(state::StoryError::Bad(m)) if m.contains("another request")));
    // Bob's approval stored under carol's name.
    let bob = object(Step::Approval, &id, "bob", Some(&req));
    let res = Story::assemble(
        &id,
        vec![
            ("request".into(), req),
            (object::approval_leaf("carol"), bob),
        ],
    );
    assert!(matches!(res, Err(state::StoryError::Bad(m)) if m.contains("not what its name")));
}

#[tokio::test]
async fn a_modified_object_makes_the_request_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let g = broker(dir.path(), Policy::builtin(), None);
    let s = filed(&g, details("write", 1, 60, far())).await;
    let s = step(&g, &s, Step::Approval, "bob").await.unwrap();
    let id = s.request.body.id.clone();
    let path = dir.path().join(object_name(&id, Step::Approval, "bob"));
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.iter().position(|b| *b == b'b').unwrap();
    bytes[at] = b'c';
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let err = g.story(&id).await.unwrap_err();
    assert!(
        matches!(err, GrantError::Conflict(ref m) if m.contains("approval-")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_store_use_a_grant_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(broker(dir.path(), Policy::builtin(), None));
    let b = Arc::new(broker(dir.path(), Policy::builtin(), None));
    let s = filed(&a, details("write", 1, 60, far())).await;
    let s = step(&a, &s, Step::Approval, "bob").await.unwrap();
    let s = Arc::new(b.story(&s.request.body.id).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let g = if i % 2 == 0 { a.clone() } else { b.clone() };
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            step(&g, &s, Step::Use, "alice").await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(story) => {
                won += 1;
                assert_eq!(story.state(story.request.body.at_ms), State::Used);
            }
            Err(GrantError::Conflict(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1, "exactly one replica consumes the grant");
}

/// An HTTP/1.1 server answering every request (one a connection) with `answer` and
/// handing each whole request it got to the test.
pub(super) async fn http_server(
    answer: String,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (tx, answer) = (tx.clone(), answer.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while body_of(&buf).is_none() {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tx.send(buf);
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    (addr, rx)
}

/// A webhook that answers 200 and hands each body it got to the test.
async fn webhook() -> (String, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let ok = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    let (addr, rx) = http_server(ok.into()).await;
    (format!("http://{addr}/hook"), rx)
}

/// The body of a complete HTTP/1.1 request (empty without a content length).
pub(super) fn body_of(req: &[u8]) -> Option<&[u8]> {
    let end = req.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(Some(0), |v| v.trim().parse().ok())?;
    (req.len() >= end + len).then(|| &req[end..end + len])
}

#[tokio::test]
async fn the_sweeper_marks_an_expiry_once_and_notifies() {
    let (url, mut got) = webhook().await;
    let dir = tempfile::tempdir().unwrap();
    let a = broker(dir.path(), Policy::builtin(), Some(url.clone()));
    let b = broker(dir.path(), Policy::builtin(), Some(url));
    let past = state::ms(std::time::SystemTime::now()) - 1;
    let s = filed(&a, details("elevation", 1, 60, past)).await;
    assert_eq!(a.sweep().await.unwrap(), 1);
    assert_eq!(
        b.sweep().await.unwrap(),
        0,
        "the other replica does not notify again"
    );
    assert_eq!(a.sweep().await.unwrap(), 0);
    let got = tokio::time::timeout(Duration::from_secs(10), got.recv())
        .await
        .unwrap()
        .unwrap();
    let notice: serde_json::Value = serde_json::from_slice(body_of(&got).unwrap()).unwrap();
    assert_eq!(notice["event"], "expired");
    assert_eq!(notice["request"]["id"], s.request.body.id.as_str());
    assert_eq!(notice["request"]["state"], "expired");
    let text = notice["text"].as_str().unwrap();
    assert!(text.contains("alice") && text.contains("expired"), "{text}");
    assert!(g_has_marker(&a, &s).await);
}

async fn g_has_marker(g: &Grants, s: &Story) -> bool {
    g.story(&s.request.body.id).await.unwrap().expired.is_some()
}

#[tokio::test]
async fn approved_elevations_are_in_force_for_their_requester_alone() {
    let dir = tempfile::tempdir().unwrap();
    let g = broker(dir.path(), Policy::builtin(), None);
    assert!(g.do_elevations(&who("alice", &[])).await.is_empty());
    let s = filed(&g, details("elevation", 1, 60, far())).await;
    let pending = filed(&g, details("elevation", 1, 60, far())).await;
    step(&g, &s, Step::Approval, "bob").await.unwrap();
    g.invalidate();
    let e = g.do_elevations(&who("alice", &[])).await;
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].id, s.request.body.id);
    assert_ne!(e[0].id, pending.request.body.id);
    assert!(g.do_elevations(&who("bob", &[])).await.is_empty());
    // Revoked: gone once the cache is refreshed.
    let s = g.story(&s.request.body.id).await.unwrap();
    step(&g, &s, Step::Revocation, "alice").await.unwrap();
    g.invalidate();
    assert!(g.do_elevations(&who("alice", &[])).await.is_empty());
}

#[test]
fn upstream_identity_adds_the_breakglass_group_and_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let g = broker(dir.path(), Policy::builtin(), None);
    let up = g.upstream_identity(&who("alice", &["oncall"]), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    assert_eq!(up.groups, ["oncall", "kubewitness:breakglass"]);
    assert_eq!(
        up.extra["kubewitness.io/access-request"],
        ["01ARZ3NDEKTSV4RRFFQ69G5FAV"]
    );
}
