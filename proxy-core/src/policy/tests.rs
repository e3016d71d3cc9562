//! Decision tables: the whole path from method + URL to allow/deny, as the server runs it
//! (classify → exec parameters → decide), against the issue's example policy.

use http::Method;

use super::*;
use crate::request::{RequestInfo, StreamRequest};

const POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: ai-readonly
  subjects: {users: [], groups: [ai-agents]}
  namespaces: [shop, "payments-*"]
  namespaceSelector: {matchLabels: {debug-ai-exec: enabled}}
  pods: ["*"]
  read: [pods, events, deployments, replicasets, statefulsets, daemonsets]
  logs: {maxTailLines: 2000, maxSinceSeconds: 3600, maxBytes: 10Mi}
  exec:
    commands:
      - [cat, /proc/meminfo]
      - [ls, "**"]
      - [ss, -tan]
      - [echo, "*"]
    stdin: false
    tty: false
    maxOutputBytes: 1Mi
    maxDuration: 2m
    idleTimeout: 30s
  attach: false
  portForward: false
  ephemeralContainers: false
  rateLimit: {requestsPerSecond: 5, burst: 20, maxConcurrentStreams: 4}
- name: oncall
  subjects: {users: [carol], groups: [oncall]}
  namespaces: ["*"]
  pods: ["api-*", "web-*"]
  read: [pods, events]
  logs: {}
  exec: {commands: [["**"]], stdin: true, tty: true}
  attach: true
  portForward: true
- name: oncall-forward
  subjects: {users: [erin]}
  namespaces: [default]
  pods: ["web-*"]
  portForward: true
  redact: false
"#;

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The classifier or the exec parameter parser refused it (400).
    Refused,
    /// Allowed by this rule.
    Allowed(&'static str),
    /// Denied; the message contains this.
    Denied(&'static str),
}
use Outcome::*;

/// Namespace labels: `shop` carries the selector's label, `payments-*` does not;
/// `payments-down` stands for a failed lookup.
fn facts(policy: &Policy, req: &Request<'_>) -> Facts {
    let needs = policy.needs(req);
    let namespace = match needs.namespace.as_deref() {
        None => Lookup::NotNeeded,
        Some("payments-down") => Lookup::Failed("503 ServiceUnavailable".into()),
        Some("shop") => Lookup::Found(Labels::from([(
            "debug-ai-exec".to_string(),
            "enabled".to_string(),
        )])),
        Some(_) => Lookup::Found(Labels::new()),
    };
    Facts {
        namespace,
        pod: Lookup::NotNeeded,
    }
}

fn run(
    policy: &Policy,
    user: &str,
    groups: &[&str],
    method: Method,
    url: &str,
) -> (Outcome, Decision) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    let Ok(info) = RequestInfo::classify(&method, path, query) else {
        return (Refused, deny_placeholder());
    };
    let streaming = info
        .resource()
        .is_some_and(|r| r.is_core("pods", Some("exec")) || r.is_core("pods", Some("attach")));
    let stream = if streaming {
        match StreamRequest::parse(&info, query) {
            Ok(s) => Some(s),
            Err(_) => return (Refused, deny_placeholder()),
        }
    } else {
        None
    };
    let req = Request::new(user, &groups, &info, stream.as_ref());
    let d = policy.decide(&req, &facts(policy, &req));
    let outcome = if d.allowed {
        Allowed(match d.rule.as_deref() {
            Some("ai-readonly") => "ai-readonly",
            Some("oncall") => "oncall",
            Some("builtin") => "builtin",
            Some("oncall-forward") => "oncall-forward",
            None => "(discovery)",
            Some(other) => panic!("unexpected rule {other}"),
        })
    } else {
        Denied("")
    };
    (outcome, d)
}

fn deny_placeholder() -> Decision {
    Decision {
        allowed: false,
        rule: None,
        reason: String::new(),
        limits: None,
        message: String::new(),
    }
}

macro_rules! table {
    ($policy:expr; $( $user:literal $groups:expr, $m:ident $url:literal => $want:expr; )+) => {{
        let mut n = 0;
        $(
            n += 1;
            let (got, d) = run(&$policy, $user, &$groups, Method::$m, $url);
            match $want {
                Denied(needle) => {
                    assert_eq!(got, Denied(""), "{} {} as {}: {d:?}", stringify!($m), $url, $user);
                    assert!(d.message.contains(needle), "{} {}: message {:?} lacks {:?}", stringify!($m), $url, d.message, needle);
                    assert!(d.message.starts_with("kubewitness: "), "{}", d.message);
                }
                want => assert_eq!(got, want, "{} {} as {}: {d:?}", stringify!($m), $url, $user),
            }
        )+
        n
    }};
}

const AI: [&str; 1] = ["ai-agents"];
const ONCALL: [&str; 1] = ["oncall"];
const NONE: [&str; 0] = [];
const E: &str = "/api/v1/namespaces/shop/pods/api-7/exec";

#[test]
fn path_and_query_confusions_are_refused_or_denied() {
    let p = Policy::from_yaml(POLICY).unwrap();
    let n = table! { p;
        // Path shapes the API server would route differently, or that need decoding.
        "ai" AI, POST "/api/v1/namespaces/shop/pods//api-7/exec?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec/?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1//namespaces/shop/pods/api-7/exec?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7%2Fexec?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/%65xec?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/x/../api-7/exec?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/./api-7/exec?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/%2e%2e/exec?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/API/v1/namespaces/shop/pods/api-7/exec?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/Pods/api-7/exec?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/SHOP/pods/api-7/exec?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/EXEC?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7\\exec?command=ls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec/x?command=ls&stdout=true" => Refused;
        "ai" AI, GET "/api/v1/namespaces/shop/pods/api-7/log/x" => Refused;
        // Query confusions: missing, repeated or smuggled parameters.
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?Command=rm&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command%3Dls&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ls&container=api&container=sidecar&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ls;command=rm&stdout=true" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ls" => Refused;
        "ai" AI, GET "/api/v1/namespaces/shop/pods?watch=1&watch=0" => Refused;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/attach?command=ls&stdout=true" => Refused;
        // Every `command` parameter is the argv, in order; `+` and %20 are spaces inside one argument.
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=cat&command=/proc/meminfo&command=/etc/shadow&stdout=true" => Denied("no rule allows this command");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=/proc/meminfo&command=cat&stdout=true" => Denied("no rule allows this command");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=cat%20/proc/meminfo&stdout=true" => Denied(r#"exec of ["cat /proc/meminfo"] in shop/api-7 denied"#);
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=cat+/proc/meminfo&stdout=true" => Denied("no rule allows this command");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ls%26command%3Drm&stdout=true" => Denied("no rule allows this command");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ss&stdout=true" => Denied("no rule allows this command");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ss&command=-tanp&stdout=true" => Denied("no rule allows this command");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=echo&stdout=true" => Denied("no rule allows this command");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=echo&command=a&command=b&stdout=true" => Denied("no rule allows this command");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=rm&command=-rf&command=/&stdout=true" => Denied(r#"kubewitness: exec of ["rm","-rf","/"] in shop/api-7 denied: no rule allows this command"#);
        // Stream flags read like the API server: only "0"/"false" are false.
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ls&stdin=true&stdout=true" => Denied("does not allow stdin");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ls&stdin=&stdout=true" => Denied("does not allow stdin");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ls&stdin=yes&stdout=true" => Denied("does not allow stdin");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ls&tty=1&stdout=true" => Denied("does not allow a terminal");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ls&stdin=0&tty=FALSE&stdout=true" => Allowed("ai-readonly");
        // Port-forward, proxies, ephemeral containers, writes, secrets, unknown paths.
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/portforward?ports=80" => Denied("port-forward to shop/api-7 denied");
        "ai" AI, GET "/api/v1/namespaces/shop/pods/api-7/portforward?ports=80" => Denied("port-forward");
        "carol" NONE, POST "/api/v1/namespaces/shop/pods/api-7/portforward" => Denied("only a rule with `redact: false` allows it");
        "carol" NONE, GET "/api/v1/namespaces/shop/pods/api-7/proxy" => Denied("proxy subresources");
        "carol" NONE, GET "/api/v1/namespaces/shop/services/web/proxy" => Denied("proxy subresources");
        "carol" NONE, GET "/api/v1/nodes/n1/proxy" => Denied("proxy subresources");
        "carol" NONE, PATCH "/api/v1/namespaces/shop/pods/api-7/ephemeralcontainers" => Denied("ephemeral containers");
        "carol" NONE, POST "/api/v1/namespaces/shop/pods/api-7/exec;x?command=ls" => Refused;
        "ai" AI, DELETE "/api/v1/namespaces/shop/pods/api-7" => Denied("does not allow writes");
        "ai" AI, PATCH "/api/v1/namespaces/shop/pods/api-7" => Denied("does not allow writes");
        "ai" AI, POST "/api/v1/namespaces/shop/pods" => Denied("does not allow writes");
        "ai" AI, GET "/api/v1/namespaces/shop/secrets" => Denied("reading secrets");
        "ai" AI, GET "/api/v1/namespaces/shop/secrets/db" => Denied("reading secrets");
        "ai" AI, GET "/api/v1/watch/namespaces/shop/secrets" => Denied("reading secrets");
        "ai" AI, GET "/api/v1/namespaces/shop/secrets?watch=true" => Denied("reading secrets");
        "ai" AI, GET "/api/v1/namespaces/shop/configmaps" => Denied("reading configmaps");
        "ai" AI, GET "/api/v1/namespaces/shop/pods/api-7/status" => Denied("reading pods/status");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/log" => Denied("not a way to read logs");
        "ai" AI, GET "/metrics" => Denied("only discovery");
        "ai" AI, GET "/logs/kube-apiserver.log" => Denied("only discovery");
        "ai" AI, POST "/api" => Denied("only discovery");
        "ai" AI, GET "/api" => Allowed("(discovery)");
        "ai" AI, GET "/apis/apps/v1" => Allowed("(discovery)");
    };
    assert!(n >= 60, "{n} cases");
}

#[test]
fn decisions_follow_subjects_scopes_and_selectors() {
    let p = Policy::from_yaml(POLICY).unwrap();
    table! { p;
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=cat&command=/proc/meminfo&stdout=true" => Allowed("ai-readonly");
        "ai" AI, GET "/api/v1/namespaces/shop/pods/api-7/exec?command=ls&stdout=true&stderr=true" => Allowed("ai-readonly");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ls&command=-la&command=/tmp&stdout=true" => Allowed("ai-readonly");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ls&command=&stdout=true" => Allowed("ai-readonly");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=ss&command=-tan&stdout=true" => Allowed("ai-readonly");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=echo&command=hi&stdout=true" => Allowed("ai-readonly");
        "ai" AI, POST "/api/v1/namespaces/shop/pods/api-7/attach?stdout=true" => Denied("no rule for you allows attach");
        "ai" AI, GET "/api/v1/namespaces/shop/pods/api-7/log?container=api" => Allowed("ai-readonly");
        "ai" AI, GET "/api/v1/namespaces/shop/pods?watch=1" => Allowed("ai-readonly");
        "ai" AI, GET "/api/v1/namespaces/shop/events" => Allowed("ai-readonly");
        "ai" AI, GET "/apis/apps/v1/namespaces/shop/deployments/web" => Allowed("ai-readonly");
        "ai" AI, GET "/apis/apps/v1/namespaces/shop/deployments/web/scale" => Denied("reading deployments/scale");
        "ai" AI, POST "/api/v1/namespaces/kube-system/pods/x/exec?command=ls&stdout=true" => Denied("no rule for you covers namespace kube-system");
        "ai" AI, POST "/api/v1/namespaces/payments-eu/pods/x/exec?command=ls&stdout=true" => Denied("the selectors of rule ai-readonly do not select pod x in namespace payments-eu");
        "ai" AI, POST "/api/v1/namespaces/payments-down/pods/x/exec?command=ls&stdout=true" => Denied("the selectors of rule ai-readonly do not select pod x in namespace payments-down");
        "ai" AI, GET "/api/v1/pods" => Denied("cannot allow requests across namespaces");
        "ai" AI, GET "/api/v1/namespaces/shop" => Denied("across namespaces");
        "carol" NONE, POST "/api/v1/namespaces/default/pods/web-0/exec?command=sh&stdin=true&tty=true&stdout=true" => Allowed("oncall");
        "carol" NONE, GET "/api/v1/namespaces/default/pods/web-0/attach?stdin=true&stdout=true&tty=true" => Allowed("oncall");
        "dave" ONCALL, POST "/api/v1/namespaces/default/pods/db-0/exec?command=sh&stdout=true" => Denied("rule oncall does not cover pod db-0");
        "dave" ONCALL, GET "/api/v1/namespaces/default/pods" => Denied("limited to some pods");
        "dave" ONCALL, GET "/api/v1/namespaces/default/pods/web-0" => Allowed("oncall");
        "dave" ONCALL, GET "/api/v1/namespaces/default/pods/web-0/log?follow=true" => Allowed("oncall");
        "erin" NONE, POST "/api/v1/namespaces/default/pods/web-0/portforward" => Allowed("oncall-forward");
        "erin" NONE, GET "/api/v1/namespaces/default/pods/web-0/portforward" => Allowed("oncall-forward");
        "erin" NONE, POST "/api/v1/namespaces/default/pods/db-0/portforward" => Denied("rule oncall-forward does not cover pod db-0");
        "erin" NONE, POST "/api/v1/namespaces/shop/pods/web-0/portforward" => Denied("covers namespace shop");
        "erin" NONE, POST "/api/v1/namespaces/default/pods/web-0/exec?command=sh&stdout=true" => Denied("allows exec");
        "bob" NONE, GET "/api/v1/namespaces/shop/pods" => Denied("no rule applies to user bob");
        "bob" NONE, GET "/api" => Allowed("(discovery)");
    };
}

#[test]
fn the_first_allowing_rule_sets_the_limits() {
    let p = Policy::from_yaml(POLICY).unwrap();
    let groups = vec!["ai-agents".to_string(), "oncall".to_string()];
    let info = RequestInfo::classify(&Method::POST, E, "command=ls&stdout=true").unwrap();
    let stream = StreamRequest::parse(&info, "command=ls&stdout=true").unwrap();
    let req = Request::new("ai", &groups, &info, Some(&stream));
    let d = p.decide(&req, &facts(&p, &req));
    assert_eq!(d.rule.as_deref(), Some("ai-readonly"));
    let limits = d.limits.unwrap();
    assert_eq!(limits.session.max_output_bytes, Some(1 << 20));
    assert_eq!(limits.session.max_duration, Some(Duration::from_secs(120)));
    assert_eq!(limits.session.idle_timeout, Some(Duration::from_secs(30)));
    assert_eq!(limits.logs.max_tail_lines, Some(2000));
    assert_eq!(limits.logs.max_bytes, Some(10 << 20));
    let rate = limits.rate.unwrap();
    assert_eq!(rate.burst, 20);
    assert_eq!(rate.max_concurrent_streams, Some(4));
    // With stdin, the ai rule stops at its flags and the on-call rule allows it instead.
    let q = "command=ls&stdin=true&stdout=true";
    let info = RequestInfo::classify(&Method::POST, E, q).unwrap();
    let stream = StreamRequest::parse(&info, q).unwrap();
    let req = Request::new("ai", &groups, &info, Some(&stream));
    let d = p.decide(&req, &facts(&p, &req));
    assert_eq!(d.rule.as_deref(), Some("oncall"));
    assert_eq!(d.limits.unwrap().session, SessionLimits::default());
}

#[test]
fn the_builtin_policy_allows_pods_events_exec_and_logs_only() {
    let p = Policy::builtin();
    table! { p;
        "x" NONE, GET "/api/v1/namespaces/shop/pods/api-7" => Allowed("builtin");
        "x" NONE, GET "/api/v1/pods" => Allowed("builtin");
        "x" NONE, POST "/api/v1/namespaces/shop/pods/api-7/exec?command=rm&command=-rf&stdin=1&tty=1&stdout=1" => Allowed("builtin");
        "x" NONE, GET "/api/v1/namespaces/shop/pods/api-7/attach?stdout=1" => Allowed("builtin");
        "x" NONE, GET "/api/v1/namespaces/shop/pods/api-7/log" => Allowed("builtin");
        "x" NONE, GET "/api/v1/namespaces/shop/events?fieldSelector=involvedObject.name%3Dapi-7" => Allowed("builtin");
        "x" NONE, GET "/apis/events.k8s.io/v1/events?watch=true&timeout=5s" => Allowed("builtin");
        "x" NONE, DELETE "/api/v1/namespaces/shop/events/x" => Denied("does not allow writes");
        "x" NONE, DELETE "/api/v1/namespaces/shop/pods/api-7" => Denied("does not allow writes");
        "x" NONE, GET "/api/v1/namespaces/shop/secrets" => Denied("reading secrets");
        "x" NONE, GET "/api/v1/namespaces/shop/configmaps/x" => Denied("reading configmaps");
        "x" NONE, POST "/api/v1/namespaces/shop/pods/api-7/portforward" => Denied("port-forward");
    };
}

#[test]
fn needs_asks_only_for_labels_some_rule_could_use() {
    let p = Policy::from_yaml(POLICY).unwrap();
    let groups = vec!["ai-agents".to_string()];
    let need = |path: &str| {
        let info = RequestInfo::classify(&Method::GET, path, "").unwrap();
        p.needs(&Request::new("ai", &groups, &info, None))
    };
    assert_eq!(
        need("/api/v1/namespaces/shop/pods").namespace.as_deref(),
        Some("shop")
    );
    assert_eq!(need("/api/v1/namespaces/kube-system/pods").namespace, None);
    let carol = p.needs(&Request::new(
        "carol",
        &[],
        &RequestInfo::classify(&Method::GET, "/api/v1/namespaces/shop/pods", "").unwrap(),
        None,
    ));
    assert_eq!(carol, Needs::default());
}

#[test]
fn argv_patterns() {
    let lit = |s: &str| ArgPattern::Literal(s.into());
    let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let cases: &[(&[ArgPattern], &[&str], bool)] = &[
        (&[lit("ls"), ArgPattern::Rest], &["ls"], true),
        (&[lit("ls"), ArgPattern::Rest], &["ls", "-l", "/"], true),
        (&[lit("ls"), ArgPattern::Rest], &["lsof"], false),
        (&[lit("ls"), ArgPattern::Rest], &[], false),
        (&[lit("cat"), ArgPattern::One], &["cat", "x"], true),
        (&[lit("cat"), ArgPattern::One], &["cat"], false),
        (&[lit("cat"), ArgPattern::One], &["cat", "x", "y"], false),
        (&[ArgPattern::One, lit("-v")], &["anything", "-v"], true),
        (&[ArgPattern::Rest], &[], true),
        (&[lit("a")], &["a", "b"], false),
    ];
    for (p, a, want) in cases {
        assert_eq!(argv_matches(p, &argv(a)), *want, "{p:?} ~ {a:?}");
    }
}

fn problems(yaml: &str) -> Vec<String> {
    Policy::from_yaml(yaml)
        .unwrap_err()
        .problems()
        .iter()
        .map(|(p, _)| p.clone())
        .collect()
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let yaml = r#"
apiVersion: kubewitness/v2
kind: Policy
global: {maxConcurrentStreams: 0}
rules:
- name: a
  subjects: {}
  namespaces: ["Shop", ""]
  pods: []
  read: [secrets/proxy, "*"]
  logs: {maxBytes: 10MB, maxSinceSeconds: 0}
  exec:
    commands: [[], ["**", ls], [ls, "**"]]
    maxOutputBytes: 0
    maxDuration: 2 minutes
    idleTimeout: 0s
  rateLimit: {requestsPerSecond: -1, burst: 0, maxConcurrentStreams: 0}
  namespaceSelector: {matchExpressions: [{key: a, operator: Like}]}
- name: a
  subjects: {groups: [x]}
  namespaces: ["*"]
"#;
    let got = problems(yaml);
    let want = [
        "apiVersion",
        "global.maxConcurrentStreams",
        "rules[0].subjects",
        "rules[0].namespaces[0]",
        "rules[0].namespaces[1]",
        "rules[0].pods",
        "rules[0].namespaceSelector.matchExpressions[0].operator",
        "rules[0].read[0]",
        "rules[0].read[1]",
        "rules[0].logs.maxSinceSeconds",
        "rules[0].logs.maxBytes",
        "rules[0].exec.commands[0]",
        "rules[0].exec.commands[1][0]",
        "rules[0].exec.maxDuration",
        "rules[0].exec.idleTimeout",
        "rules[0].exec.maxOutputBytes",
        "rules[0].rateLimit.requestsPerSecond",
        "rules[0].rateLimit.burst",
        "rules[0].rateLimit.maxConcurrentStreams",
        "rules[1].name",
        "rules[1]",
    ];
    assert_eq!(got, want);
}

#[test]
fn unknown_keys_and_wrong_types_name_their_path() {
    let base = "apiVersion: kubewitness/v1\nkind: Policy\nrules:\n- name: a\n  subjects: {groups: [g]}\n  namespaces: [x]\n";
    assert_eq!(
        problems(&format!(
            "{base}  exec: {{commands: [[ls]], maxOuputBytes: 1}}\n"
        )),
        ["rules[0].exec.maxOuputBytes"]
    );
    assert_eq!(
        problems(&format!("{base}  attach: yes please\n")),
        ["rules[0].attach"]
    );
    assert_eq!(
        problems(&format!("{base}  read: pods\n")),
        ["rules[0].read"]
    );
    assert_eq!(
        problems("apiVersion: kubewitness/v1\nkind: Policy\nrulez: []\n"),
        ["rulez"]
    );
    assert_eq!(
        problems(
            "apiVersion: kubewitness/v1\nkind: Policy\nrules:\n- name: a\n  subjects: {group: [g]}\n"
        ),
        ["rules[0].subjects.group"]
    );
}

#[test]
fn warnings_for_settings_that_are_not_relayed_yet() {
    let p = Policy::from_yaml(POLICY).unwrap();
    let paths: Vec<_> = p.warnings().iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["rules[1].portForward"]);
    assert!(Policy::builtin().warnings().is_empty());
    assert_eq!(
        p.global().max_concurrent_streams,
        DEFAULT_MAX_CONCURRENT_STREAMS
    );
}

#[test]
fn the_example_policies_are_valid() {
    for (name, yaml) in [
        ("debug-ai", include_str!("../../../examples/debug-ai.yaml")),
        ("oncall", include_str!("../../../examples/oncall.yaml")),
        ("grants", include_str!("../../../examples/grants.yaml")),
    ] {
        Policy::from_yaml(yaml).unwrap_or_else(|e| panic!("examples/{name}.yaml: {e}"));
    }
}
