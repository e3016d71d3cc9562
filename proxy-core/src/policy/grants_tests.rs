//! `grants:` and `agents:`: parsing, validation with paths, write scopes, elevations.

use http::Method;

use super::grants::{Elevated, Gives};
use super::write::{Workload, WriteAction, WriteVerb};
use super::{Facts, Policy, Request};
use crate::request::{RequestInfo, StreamRequest};

const BASE: &str = "\
apiVersion: kubewitness/v1
kind: Policy
agents: {users: [claude], groups: [ai-agents]}
rules:
- name: read
  subjects: {groups: [oncall, ai-agents]}
  namespaces: [\"*\"]
  read: [pods]
grants:
- name: payments-exec
  requesters: {groups: [oncall]}
  approvers: {groups: [sre-leads]}
  autoApprove: {groups: [incident]}
  maxTTL: 1h
  rule: {namespaces: [payments], pods: [\"*\"], exec: {commands: [[\"**\"]], stdin: true, tty: true}}
- name: evict-wedged
  requesters: {groups: [ai-agents]}
  approvers: {users: [alice, bob], groups: [sre-leads]}
  approvals: 2
  maxTTL: 15m
  write: {actions: [evict, restart, scale], namespaces: [shop, \"team-*\"], names: [\"web-*\"]}
- name: nodes
  requesters: {users: [claude]}
  approvers: {users: [alice]}
  maxTTL: 1h
  write: {actions: [cordon, uncordon]}
";

fn policy() -> Policy {
    Policy::from_yaml(BASE).unwrap_or_else(|e| panic!("{e}"))
}

fn with_grant(grant: &str) -> String {
    format!("{BASE}{grant}")
}

fn problems(yaml: &str) -> Vec<(String, String)> {
    Policy::from_yaml(yaml).unwrap_err().problems().to_vec()
}

fn has(problems: &[(String, String)], path: &str, words: &str) -> bool {
    problems.iter().any(|(p, m)| p == path && m.contains(words))
}

fn groups(list: &[&str]) -> Vec<String> {
    list.iter().map(|g| g.to_string()).collect()
}

fn action(verb: WriteVerb, ns: Option<&str>, name: &str) -> WriteAction {
    WriteAction {
        verb,
        namespace: ns.map(String::from),
        name: name.into(),
        workload: None,
        replicas: None,
    }
}

#[test]
fn grants_are_compiled() {
    let p = policy();
    let names: Vec<&str> = p.grants().iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["payments-exec", "evict-wedged", "nodes"]);
    let exec = p.grant("payments-exec").unwrap();
    assert_eq!(exec.kind(), "elevation");
    assert_eq!(exec.approvals, 1);
    assert_eq!(exec.max_ttl.as_secs(), 3600);
    assert!(exec.auto_approve.contains("dave", &groups(&["incident"])));
    let Gives::Elevation(rule) = &exec.gives else {
        panic!("an elevation")
    };
    assert_eq!(rule.name(), "grant:payments-exec");
    let evict = p.grant("evict-wedged").unwrap();
    assert_eq!(
        (evict.kind(), evict.approvals, evict.max_ttl.as_secs()),
        ("write", 2, 900)
    );
    assert!(p.grant("nope").is_none());
    assert!(p.is_agent("claude", &[]));
    assert!(p.is_agent("x", &groups(&["ai-agents"])));
    assert!(!p.is_agent("alice", &groups(&["sre-leads"])));
    // Every grant's rule stays out of the policy's own rules.
    assert_eq!(p.rules().len(), 1);
}

#[test]
fn write_scopes_cover_actions_names_and_namespaces() {
    let p = policy();
    let agent = groups(&["ai-agents"]);
    let allowed = |a: &WriteAction| {
        p.writes_allowing("claude", &agent, a)
            .iter()
            .map(|g| g.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        allowed(&action(WriteVerb::Evict, Some("shop"), "web-1")),
        ["evict-wedged"]
    );
    assert_eq!(
        allowed(&action(WriteVerb::Evict, Some("team-a"), "web-1")),
        ["evict-wedged"]
    );
    let scale = WriteAction {
        workload: Some(Workload::StatefulSet),
        replicas: Some(2),
        ..action(WriteVerb::Scale, Some("shop"), "web-db")
    };
    assert_eq!(allowed(&scale), ["evict-wedged"]);
    assert!(allowed(&action(WriteVerb::Evict, Some("payments"), "web-1")).is_empty());
    assert!(allowed(&action(WriteVerb::Evict, Some("shop"), "api-1")).is_empty());
    assert!(allowed(&action(WriteVerb::Delete, Some("shop"), "web-1")).is_empty());
    // Node actions ignore namespaces; the grant names its requester by user.
    assert_eq!(
        allowed(&action(WriteVerb::Cordon, None, "node-1")),
        ["nodes"]
    );
    // Someone who may not request it gets nothing.
    let oncall = groups(&["oncall"]);
    assert!(
        p.writes_allowing(
            "dave",
            &oncall,
            &action(WriteVerb::Evict, Some("shop"), "web-1")
        )
        .is_empty()
    );
}

fn exec_request<'a>(
    info: &'a RequestInfo,
    stream: &StreamRequest,
    user: &'a str,
    groups: &'a [String],
) -> Request<'a> {
    Request::new(user, groups, info, Some(stream))
}

#[test]
fn elevations_add_the_grants_rule_for_the_requester_alone() {
    let p = policy();
    let path = "/api/v1/namespaces/payments/pods/api-0/exec";
    let query = "command=sh&stdin=true&stdout=true&tty=true";
    let info = RequestInfo::classify(&Method::POST, path, query).unwrap();
    let stream = StreamRequest::parse(&info, query).unwrap();
    let dave_groups = groups(&["oncall"]);
    let dave = exec_request(&info, &stream, "dave", &dave_groups);
    assert!(!p.decide(&dave, &Facts::default()).allowed);
    // The denial can name the grant that would allow it.
    let could: Vec<&str> = p
        .elevations_allowing(&dave)
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(could, ["payments-exec"]);
    // Not for someone who may not request it, nor for a request the rule does not allow.
    let agent_groups = groups(&["ai-agents"]);
    assert!(
        p.elevations_allowing(&exec_request(&info, &stream, "claude", &agent_groups))
            .is_empty()
    );
    let other = RequestInfo::classify(
        &Method::POST,
        "/api/v1/namespaces/shop/pods/api-0/exec",
        query,
    )
    .unwrap();
    assert!(
        p.elevations_allowing(&exec_request(&other, &stream, "dave", &dave_groups))
            .is_empty()
    );

    let elevated = p.with_elevations(&[
        Elevated {
            grant: "payments-exec",
            id: "01J0",
            user: "dave",
        },
        Elevated {
            grant: "gone",
            id: "01J1",
            user: "dave",
        },
    ]);
    assert_eq!(elevated.rules().len(), 2);
    let d = elevated.decide(&dave, &Facts::default());
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(d.rule.as_deref(), Some("grant:payments-exec:01J0"));
    // Only the requester: another on-call member is still denied.
    let erin = exec_request(&info, &stream, "erin", &dave_groups);
    assert!(!elevated.decide(&erin, &Facts::default()).allowed);
    // A write grant adds no rule.
    let w = p.with_elevations(&[Elevated {
        grant: "evict-wedged",
        id: "01J2",
        user: "dave",
    }]);
    assert_eq!(w.rules().len(), 1);
}

#[test]
fn grant_problems_name_their_paths() {
    let p = problems(&with_grant(
        "\
- name: payments-exec
  requesters: {}
  approvers: {groups: [ai-agents], users: [claude]}
  approvals: 0
  maxTTL: 13h
  rule: {subjects: {users: [x]}, namespaces: [payments], read: [pods]}
- name: bad write
  requesters: {users: [a]}
  approvers: {users: [b]}
  approvals: 2
  maxTTL: 2h
  write: {actions: [], names: []}
- name: both
  requesters: {users: [a]}
  approvers: {users: [b]}
  maxTTL: 1h
  rule: {namespaces: [x], read: [pods]}
  write: {actions: [evict], namespaces: [x]}
- name: short
  requesters: {users: [a]}
  approvers: {users: [b]}
  maxTTL: 500ms
  write: {actions: [evict], namespaces: [\"Bad\"]}
- name: untimed
  requesters: {users: [a]}
  approvers: {users: [b]}
  rule: {namespaces: [x]}
",
    ));
    let want = [
        ("grants[3].name", "also the name of grants[0]"),
        ("grants[3].requesters", "nobody could request"),
        ("grants[3].approvers.users[0]", "agent"),
        ("grants[3].approvers.groups[0]", "agent"),
        ("grants[3].approvals", "at least 1"),
        ("grants[3].maxTTL", "longer than an elevation"),
        ("grants[3].rule.subjects", "leave `subjects` out"),
        ("grants[4].name", "not a grant name"),
        ("grants[4].approvals", "only 1 approver users"),
        ("grants[4].maxTTL", "longer than a write"),
        ("grants[4].write.actions", "list the actions"),
        ("grants[4].write.names", "empty"),
        ("grants[5]", "exactly one of"),
        ("grants[6].maxTTL", "at least 1s"),
        ("grants[6].write.namespaces[0]", "cannot appear"),
        ("grants[7].maxTTL", "required"),
        ("grants[7].rule", "allows nothing"),
    ];
    for (path, words) in want {
        assert!(has(&p, path, words), "{path}: {words} not in {p:#?}");
    }
}

#[test]
fn grant_schema_is_strict() {
    let p = problems(&with_grant(
        "- name: x\n  requesters: {users: [a]}\n  approvers: {users: [b]}\n  maxTTL: 1h\n  write: {actions: [explode]}\n",
    ));
    assert!(p[0].0.starts_with("grants[3].write.actions"), "{p:?}");
    let p = problems(&with_grant(
        "- name: x\n  requesters: {users: [a]}\n  approvers: {users: [b]}\n  maxTtl: 1h\n",
    ));
    assert!(p[0].1.contains("unknown field"), "{p:?}");
    let p = problems(&BASE.replace(
        "agents: {users: [claude], groups: [ai-agents]}",
        "agents: {users: [\"\"]}",
    ));
    assert!(has(&p, "agents.users[0]", "empty"), "{p:?}");
    let p = problems(&with_grant(
        "- name: x\n  requesters: {users: [a]}\n  approvers: {users: [b]}\n  maxTTL: 1h\n  write: {actions: [evict]}\n",
    ));
    assert!(
        has(&p, "grants[3].write.namespaces", "list the namespaces"),
        "{p:?}"
    );
}

#[test]
fn node_grants_warn_that_namespaces_are_ignored() {
    let p = Policy::from_yaml(&with_grant(
        "- name: x\n  requesters: {users: [a]}\n  approvers: {users: [b]}\n  maxTTL: 1h\n  write: {actions: [cordon], namespaces: [shop]}\n",
    ))
    .unwrap();
    assert!(
        p.warnings()
            .iter()
            .any(|(at, _)| at == "grants[3].write.namespaces")
    );
}

#[test]
fn a_policy_without_grants_has_none() {
    let p = Policy::builtin();
    assert!(p.grants().is_empty());
    assert!(!p.is_agent("anyone", &[]));
}
