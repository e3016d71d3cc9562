//! The pod scope in every API group, denials that reveal nothing about objects the caller
//! may not read, and the stream limits that apply when a policy sets none.

use http::Method;

use super::*;
use crate::request::RequestInfo;

const SCOPED: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: agent
  subjects: {users: [agent]}
  namespaces: [shop, "team-*"]
  namespaceSelector: {matchLabels: {debug: "on"}}
  pods: ["app-*"]
  podSelector: {matchLabels: {exposed: "yes"}}
  read: [pods]
  logs: {}
"#;

fn decide(policy: &Policy, method: Method, url: &str, facts: &Facts) -> Decision {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let info = RequestInfo::classify(&method, path, query).expect("classifiable");
    let groups = Vec::new();
    let req = Request::new("agent", &groups, &info, None);
    policy.decide(&req, facts)
}

fn labels(pairs: &[(&str, &str)]) -> Lookup {
    Lookup::Found(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn selected() -> Facts {
    Facts {
        namespace: labels(&[("debug", "on")]),
        pod: labels(&[("exposed", "yes")]),
    }
}

#[test]
fn the_pod_scope_holds_for_pods_in_every_group() {
    let policy = Policy::from_yaml(SCOPED).unwrap();
    let facts = selected();
    // Core pods: the scope already held.
    assert!(
        decide(
            &policy,
            Method::GET,
            "/api/v1/namespaces/shop/pods/app-1",
            &facts
        )
        .allowed
    );
    assert!(
        !decide(
            &policy,
            Method::GET,
            "/api/v1/namespaces/shop/pods/db-0",
            &facts
        )
        .allowed
    );
    // metrics.k8s.io pods name every pod and its usage: the same scope applies.
    let metrics = "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods";
    let d = decide(&policy, Method::GET, metrics, &facts);
    assert!(!d.allowed, "listing pod metrics passed a pod-scoped rule");
    assert!(
        d.message.contains("cannot allow listing pods"),
        "{}",
        d.message
    );
    let d = decide(&policy, Method::GET, &format!("{metrics}/db-0"), &facts);
    assert!(!d.allowed, "metrics of an out-of-scope pod passed");
    assert!(
        d.message.contains("does not cover pod db-0"),
        "{}",
        d.message
    );
    // In scope, the podSelector is asked about the pod the metrics describe.
    let needs = {
        let info = RequestInfo::classify(&Method::GET, &format!("{metrics}/app-1"), "").unwrap();
        policy.needs(&Request::new("agent", &[], &info, None))
    };
    assert_eq!(needs.pod, Some(("shop".into(), "app-1".into())));
    assert!(decide(&policy, Method::GET, &format!("{metrics}/app-1"), &facts).allowed);
}

#[test]
fn selector_denials_read_the_same_whatever_the_lookup_found() {
    let policy = Policy::from_yaml(SCOPED).unwrap();
    let url = "/api/v1/namespaces/team-a/pods/app-7";
    let cases = [
        // The pod does not exist.
        Facts {
            namespace: labels(&[("debug", "on")]),
            pod: Lookup::Failed("404 NotFound".into()),
        },
        // It exists but is not selected.
        Facts {
            namespace: labels(&[("debug", "on")]),
            pod: labels(&[("exposed", "no")]),
        },
        // Its namespace is not selected.
        Facts {
            namespace: labels(&[]),
            pod: labels(&[("exposed", "yes")]),
        },
        // The namespace does not exist.
        Facts {
            namespace: Lookup::Failed("404 NotFound".into()),
            pod: Lookup::Failed("404 NotFound".into()),
        },
        // The lookups failed.
        Facts {
            namespace: Lookup::Failed("503 ServiceUnavailable".into()),
            pod: Lookup::NotNeeded,
        },
    ];
    let texts: Vec<String> = cases
        .iter()
        .map(|f| {
            let d = decide(&policy, Method::GET, url, f);
            assert!(!d.allowed);
            d.message
        })
        .collect();
    assert!(texts.iter().all(|t| *t == texts[0]), "{texts:#?}");
    assert!(
        texts[0].contains("pod app-7 in namespace team-a"),
        "{}",
        texts[0]
    );
    assert!(!texts[0].contains("404"), "{}", texts[0]);
    // The same for logs, which name the pod too.
    let logs: Vec<String> = cases
        .iter()
        .map(|f| decide(&policy, Method::GET, &format!("{url}/log"), f).message)
        .collect();
    assert!(logs.iter().all(|t| *t == logs[0]), "{logs:#?}");
}

#[test]
fn log_streams_and_identities_get_finite_limits_by_default() {
    let policy = Policy::from_yaml(SCOPED).unwrap();
    let logs = policy.rules()[0].limits().logs;
    assert_eq!(logs.max_duration, Some(DEFAULT_LOG_MAX_DURATION));
    assert_eq!(logs.idle_timeout, Some(DEFAULT_LOG_IDLE_TIMEOUT));
    assert_eq!(logs.session().max_duration, Some(DEFAULT_LOG_MAX_DURATION));
    let global = policy.global();
    assert_eq!(
        global.max_concurrent_streams_per_identity,
        DEFAULT_MAX_CONCURRENT_STREAMS / DEFAULT_STREAM_SHARE
    );
    let set = SCOPED
        .replace("  logs: {}", "  logs: {maxDuration: 10m, idleTimeout: 1m}")
        .replace(
            "rules:",
            "global: {maxConcurrentStreams: 10, maxConcurrentStreamsPerIdentity: 3}\nrules:",
        );
    let policy = Policy::from_yaml(&set).unwrap();
    let logs = policy.rules()[0].limits().logs;
    assert_eq!(logs.max_duration, Some(std::time::Duration::from_secs(600)));
    assert_eq!(logs.idle_timeout, Some(std::time::Duration::from_secs(60)));
    assert_eq!(policy.global().max_concurrent_streams_per_identity, 3);
    let zero = SCOPED.replace(
        "rules:",
        "global: {maxConcurrentStreamsPerIdentity: 0}\nrules:",
    );
    let err = Policy::from_yaml(&zero).unwrap_err();
    assert_eq!(
        err.problems()[0].0,
        "global.maxConcurrentStreamsPerIdentity"
    );
}
