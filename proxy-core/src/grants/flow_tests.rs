//! The broker end to end with a real policy (`grants:` and `agents:` from YAML) and a fake
//! API server that records what reached it: elevations approved and expiring, approvers
//! never the requester nor an agent, `autoApprove`, and a write dry-run at request time,
//! executed once, exactly as approved, within its TTL.

use std::sync::Mutex;
use std::time::Duration;

use super::tests::{broker, http_server, who};
use super::*;
use crate::config::UpstreamConfig;
use crate::policy::Policy;

const POLICY: &str = "\
apiVersion: kubewitness/v1
kind: Policy
rules: []
agents: {groups: [ai-agents]}
grants:
- name: payments-exec
  requesters: {groups: [oncall]}
  approvers: {groups: [sre-leads]}
  maxTTL: 1h
  rule: {namespaces: [payments], pods: [\"*\"], exec: {commands: [[\"**\"]], stdin: true, tty: true}}
- name: pager-exec
  requesters: {groups: [oncall]}
  approvers: {groups: [sre-leads]}
  autoApprove: {groups: [oncall]}
  maxTTL: 1h
  rule: {namespaces: [payments], pods: [\"*\"], exec: {commands: [[\"**\"]]}}
- name: evict-wedged
  requesters: {groups: [ai-agents]}
  approvers: {groups: [sre-leads]}
  maxTTL: 15m
  write: {actions: [evict], namespaces: [shop]}
";

/// What reached the fake API server: each whole request, lower case.
type Seen = Mutex<tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>>;

/// An API server answering every request 201 with a `Status`.
async fn api_server() -> (std::net::SocketAddr, Seen) {
    let body = r#"{"kind":"Status","apiVersion":"v1","status":"Success","message":"evicted"}"#;
    let answer = format!(
        "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let (addr, rx) = http_server(answer).await;
    (addr, Mutex::new(rx))
}

async fn upstream(addr: std::net::SocketAddr, dir: &std::path::Path) -> Upstream {
    let kubeconfig = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"http://{addr}\"}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
    );
    std::fs::write(&kubeconfig, text).unwrap();
    let cfg = UpstreamConfig {
        kubeconfig: Some(kubeconfig),
        ..Default::default()
    };
    Upstream::from_config(&cfg).await.unwrap()
}

struct Bed {
    _dir: tempfile::TempDir,
    grants: Grants,
    upstream: Upstream,
    origin: Origin,
    seen: Seen,
    got: Mutex<Vec<String>>,
}

impl Bed {
    async fn new() -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let (addr, seen) = api_server().await;
        let upstream = upstream(addr, dir.path()).await;
        let store = dir.path().join("store");
        std::fs::create_dir_all(&store).unwrap();
        let policy = Policy::from_yaml(POLICY).expect("the test policy");
        Bed {
            grants: broker(&store, policy, None),
            upstream,
            origin: Origin::new("127.0.0.1".parse().unwrap()),
            seen,
            got: Mutex::default(),
            _dir: dir,
        }
    }

    fn via(&self) -> Via<'_> {
        Via {
            upstream: &self.upstream,
            origin: &self.origin,
        }
    }

    fn seen(&self) -> Vec<String> {
        let mut got = self.got.lock().unwrap();
        while let Ok(r) = self.seen.lock().unwrap().try_recv() {
            got.push(String::from_utf8_lossy(&r).to_ascii_lowercase());
        }
        got.clone()
    }
}

fn elevation(grant: &str, ttl: &str) -> NewRequest {
    NewRequest {
        grant: grant.into(),
        reason: "incident 42".into(),
        ttl: Some(ttl.into()),
        ..NewRequest::default()
    }
}

fn evict(name: &str, ttl: &str) -> NewRequest {
    NewRequest {
        grant: "evict-wedged".into(),
        reason: "web-1 is wedged".into(),
        ttl: Some(ttl.into()),
        action: Some(WriteVerb::Evict),
        namespace: Some("shop".into()),
        name: Some(name.into()),
        ..NewRequest::default()
    }
}

#[tokio::test]
async fn an_elevation_is_approved_by_another_person_and_expires() {
    let bed = Bed::new().await;
    let g = &bed.grants;
    let alice = who("alice", &["oncall", "sre-leads"]);
    let r = g
        .request(bed.via(), &alice, elevation("payments-exec", "2s"))
        .await
        .unwrap();
    assert_eq!(r.state, State::Pending);
    assert!(g.elevations(&alice).await.is_empty());
    let own = g.approve(&alice, &r.id, "me").await.unwrap_err();
    assert!(matches!(own, GrantError::Forbidden(_)), "{own}");
    let agent = who("bot", &["ai-agents", "sre-leads"]);
    let err = g.approve(&agent, &r.id, "lgtm").await.unwrap_err();
    assert!(matches!(err, GrantError::Forbidden(_)), "{err}");
    let bob = who("bob", &["sre-leads"]);
    let r = g.approve(&bob, &r.id, "go").await.unwrap();
    assert_eq!(r.state, State::Approved);
    let e = g.elevations(&alice).await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].grant, "payments-exec");
    assert!(g.elevations(&bob).await.is_empty());
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(g.get(&alice, &r.id).await.unwrap().state, State::Expired);
    assert!(g.elevations(&alice).await.is_empty());
    assert!(bed.seen().is_empty(), "an elevation sends nothing upstream");
}

#[tokio::test]
async fn auto_approve_deny_and_revoke() {
    let bed = Bed::new().await;
    let g = &bed.grants;
    let alice = who("alice", &["oncall"]);
    let r = g
        .request(bed.via(), &alice, elevation("pager-exec", "1h"))
        .await
        .unwrap();
    assert_eq!(r.state, State::Approved);
    assert_eq!(r.approvals[0].user, AUTO_APPROVER);
    let r = g.revoke(&alice, &r.id, "done").await.unwrap();
    assert_eq!(r.state, State::Revoked);
    let r = g
        .request(bed.via(), &alice, elevation("payments-exec", "1h"))
        .await
        .unwrap();
    let bob = who("bob", &["sre-leads"]);
    assert_eq!(
        g.deny(&bob, &r.id, "no").await.unwrap().state,
        State::Denied
    );
    let late = g.approve(&bob, &r.id, "oops").await.unwrap_err();
    assert!(matches!(late, GrantError::Conflict(_)), "{late}");
    let stranger = who("eve", &[]);
    assert!(matches!(
        g.get(&stranger, &r.id).await,
        Err(GrantError::NotFound(_))
    ));
    assert_eq!(g.list(&bob).await.unwrap().len(), 2);
    let bad = g
        .request(bed.via(), &stranger, elevation("payments-exec", "1h"))
        .await;
    assert!(matches!(bad, Err(GrantError::Forbidden(_))));
    let too_long = g
        .request(bed.via(), &alice, elevation("payments-exec", "2h"))
        .await;
    assert!(matches!(too_long, Err(GrantError::Invalid(_))));
}

#[tokio::test]
async fn a_write_is_dry_run_then_executed_once_as_approved() {
    let bed = Bed::new().await;
    let g = &bed.grants;
    let agent = who("agent-7", &["ai-agents"]);
    let r = g
        .request(bed.via(), &agent, evict("web-1", "15m"))
        .await
        .unwrap();
    assert_eq!(r.state, State::Pending);
    assert_eq!(r.dry_run.as_ref().unwrap().code, 201);
    let seen = bed.seen();
    assert_eq!(seen.len(), 1, "only the dry run before approval");
    assert!(seen[0].contains("dryrun=all"), "{}", seen[0]);
    assert!(seen[0].contains("impersonate-user: agent-7"), "{}", seen[0]);
    assert!(
        seen[0].contains("impersonate-group: kubewitness:breakglass"),
        "{}",
        seen[0]
    );
    let early = g.execute(bed.via(), &agent, &r.id, None).await.unwrap_err();
    assert!(matches!(early, GrantError::Conflict(_)), "{early}");
    let bob = who("bob", &["sre-leads"]);
    g.approve(&bob, &r.id, "ok").await.unwrap();
    let other = r.write.clone().map(|mut w| {
        w.name = "web-2".into();
        w
    });
    let changed = g
        .execute(bed.via(), &agent, &r.id, other.as_ref())
        .await
        .unwrap_err();
    assert!(matches!(changed, GrantError::Conflict(_)), "{changed}");
    let done = g.execute(bed.via(), &agent, &r.id, None).await.unwrap();
    assert_eq!(done.code, http::StatusCode::CREATED);
    assert!(String::from_utf8_lossy(&done.body).contains("evicted"));
    let again = g.execute(bed.via(), &agent, &r.id, None).await.unwrap_err();
    assert!(matches!(again, GrantError::Conflict(_)), "{again}");
    let seen = bed.seen();
    assert_eq!(seen.len(), 2, "executed exactly once");
    assert!(!seen[1].contains("dryrun"), "{}", seen[1]);
    let r = g.get(&agent, &r.id).await.unwrap();
    assert_eq!(r.state, State::Used);
    assert_eq!(r.result.unwrap().message, "evicted");
    let matching = g
        .execute_matching(bed.via(), &agent, r.write.as_ref().unwrap())
        .await;
    assert!(matching.is_none(), "a used approval matches nothing");
}

#[tokio::test]
async fn a_write_after_its_ttl_is_refused_and_the_kubectl_path_matches_once() {
    let bed = Bed::new().await;
    let g = &bed.grants;
    let agent = who("agent-7", &["ai-agents"]);
    let bob = who("bob", &["sre-leads"]);
    let short = g
        .request(bed.via(), &agent, evict("web-1", "1s"))
        .await
        .unwrap();
    g.approve(&bob, &short.id, "ok").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let late = g
        .execute(bed.via(), &agent, &short.id, None)
        .await
        .unwrap_err();
    assert!(matches!(late, GrantError::Conflict(_)), "{late}");
    let r = g
        .request(bed.via(), &agent, evict("web-3", "15m"))
        .await
        .unwrap();
    g.approve(&bob, &r.id, "ok").await.unwrap();
    let action = r.write.clone().unwrap();
    let other = who("agent-8", &["ai-agents"]);
    assert!(
        g.execute_matching(bed.via(), &other, &action)
            .await
            .is_none()
    );
    let ran = g.execute_matching(bed.via(), &agent, &action).await;
    assert_eq!(ran.unwrap().unwrap().code, http::StatusCode::CREATED);
    assert!(
        g.execute_matching(bed.via(), &agent, &action)
            .await
            .is_none()
    );
}
