//! The deployment assets in `deploy/`: `kubectl kustomize` renders the base, each overlay and
//! the companions; every object must be exactly its `k8s-openapi` type (unknown fields
//! refused, `typed.rs`); the embedded kubewitness configuration and policy must parse with
//! the real loaders and match the Deployment's mounts (`config.rs`); the audit policy must
//! parse (`audit.rs`); and the Dockerfile's build command must be the one CI runs.

mod audit;
mod config;
mod typed;

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec};
use serde::Deserialize;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn kubectl() -> &'static str {
    if Path::new("/usr/bin/kubectl").exists() {
        "/usr/bin/kubectl"
    } else {
        "kubectl"
    }
}

/// `kubectl kustomize deploy/<dir>`, split into objects (JSON values).
fn render(dir: &str) -> Vec<Value> {
    let path = repo().join("deploy").join(dir);
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("kubectl is required to render deploy/ ({}): {e}", kubectl()));
    assert!(
        out.status.success(),
        "kubectl kustomize deploy/{dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let objects: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect();
    assert!(!objects.is_empty(), "deploy/{dir} renders nothing");
    objects
}

/// Renders `dir` and checks every object against its type; returns the objects.
fn render_checked(dir: &str) -> Vec<Value> {
    let objects = render(dir);
    let problems: Vec<String> = objects
        .iter()
        .filter_map(|o| typed::check_object(o).err())
        .collect();
    assert!(
        problems.is_empty(),
        "deploy/{dir}:\n{}",
        problems.join("\n")
    );
    objects
}

fn find<'a>(objects: &'a [Value], kind: &str, name_prefix: &str) -> Option<&'a Value> {
    objects.iter().find(|o| {
        o["kind"] == kind
            && o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(name_prefix))
    })
}

fn typed<T: serde::de::DeserializeOwned>(obj: &Value) -> T {
    serde_json::from_value(obj.clone()).unwrap()
}

/// The kubewitness Deployment's pod, with its embedded configuration and policy parsed and
/// checked against it.
fn check_kubewitness(dir: &str, objects: &[Value]) -> PodSpec {
    let deployment: Deployment = typed(find(objects, "Deployment", "kubewitness").unwrap());
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let container = pod
        .containers
        .iter()
        .find(|c| c.name == "kubewitness")
        .unwrap();
    let config_map: ConfigMap = typed(find(objects, "ConfigMap", "kubewitness-config").unwrap());
    let text = &config_map.data.as_ref().unwrap()["config.yaml"];
    let config = config::parse_config(text).unwrap_or_else(|e| panic!("deploy/{dir} config: {e}"));
    config::check_mounted(&config, container).unwrap_or_else(|e| panic!("deploy/{dir}: {e}"));
    let policy: ConfigMap = typed(find(objects, "ConfigMap", "kubewitness-policy").unwrap());
    config::parse_policy(&policy.data.as_ref().unwrap()["policy.yaml"])
        .unwrap_or_else(|e| panic!("deploy/{dir} policy: {e}"));
    let grace = config::shutdown_grace(text).unwrap();
    let termination = pod.termination_grace_period_seconds.unwrap_or(30);
    assert!(
        u64::try_from(termination).unwrap() > grace.as_secs(),
        "deploy/{dir}: terminationGracePeriodSeconds {termination} must exceed shutdownGrace {grace:?}"
    );
    // No token for every container: kubewitness's is projected into its own container.
    assert_eq!(
        pod.automount_service_account_token,
        Some(false),
        "deploy/{dir}"
    );
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(
        security.read_only_root_filesystem,
        Some(true),
        "deploy/{dir}"
    );
    assert_eq!(
        security.allow_privilege_escalation,
        Some(false),
        "deploy/{dir}"
    );
    pod
}

/// The volumes that carry a ServiceAccount token.
fn token_volumes(pod: &PodSpec) -> Vec<String> {
    pod.volumes
        .iter()
        .flatten()
        .filter(|v| {
            v.projected.as_ref().is_some_and(|p| {
                p.sources
                    .iter()
                    .flatten()
                    .any(|s| s.service_account_token.is_some())
            })
        })
        .map(|v| v.name.clone())
        .collect()
}

#[test]
fn base_renders_into_known_objects_and_a_consistent_configuration() {
    let objects = render_checked("base");
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "NetworkPolicy",
    ] {
        assert!(find(&objects, kind, "kubewitness").is_some(), "no {kind}");
    }
    let pod = check_kubewitness("base", &objects);
    assert_eq!(token_volumes(&pod), ["kubernetes-api"]);
}

#[test]
fn sidecar_agent_reaches_the_cluster_only_through_kubewitness() {
    let objects = render_checked("overlays/sidecar");
    let pod = check_kubewitness("overlays/sidecar", &objects);
    let tokens = token_volumes(&pod);
    let agent = pod.containers.iter().find(|c| c.name == "agent").unwrap();
    let agent_mounts: Vec<&str> = agent
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.name.as_str())
        .collect();
    assert!(
        agent_mounts.iter().all(|m| !tokens.iter().any(|t| t == m)),
        "the agent mounts a ServiceAccount token: {agent_mounts:?}"
    );
    let kubeconfig: ConfigMap = typed(find(&objects, "ConfigMap", "agent-kubeconfig").unwrap());
    let kubeconfig = &kubeconfig.data.unwrap()["kubeconfig"];
    assert!(
        kubeconfig.contains("server: https://127.0.0.1:6443"),
        "{kubeconfig}"
    );
    assert!(find(&objects, "Service", "kubewitness").is_none());
}

#[test]
fn s3_object_lock_overlay_records_with_retention() {
    let objects = render_checked("overlays/s3-object-lock");
    check_kubewitness("overlays/s3-object-lock", &objects);
    let config_map: ConfigMap = typed(find(&objects, "ConfigMap", "kubewitness-config").unwrap());
    let config = config::parse_config(&config_map.data.unwrap()["config.yaml"]).unwrap();
    let recording = config.recording.unwrap();
    assert!(recording.store.starts_with("s3://"), "{}", recording.store);
    let lock = recording.object_lock.expect("objectLock");
    assert!(lock.retain_days > 0);
}

#[test]
fn companions_render_into_known_objects() {
    let objects = render_checked("companions");
    for kind in [
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "FlowSchema",
        "PriorityLevelConfiguration",
    ] {
        assert!(objects.iter().any(|o| o["kind"] == kind), "no {kind}");
    }
}

/// The break-glass ClusterRole grants exactly the one-use write actions, bound only to the
/// break-glass group.
#[test]
fn breakglass_role_grants_only_the_one_use_writes() {
    let objects = render_checked("companions");
    let role = find(&objects, "ClusterRole", "kubewitness-breakglass").expect("ClusterRole");
    let mut rules: Vec<(String, String, String)> = Vec::new();
    for rule in role["rules"].as_array().unwrap() {
        assert!(rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none());
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                for verb in rule["verbs"].as_array().unwrap() {
                    let s = |v: &Value| v.as_str().unwrap().to_owned();
                    rules.push((s(group), s(resource), s(verb)));
                }
            }
        }
    }
    rules.sort();
    let mut want: Vec<(String, String, String)> = [
        ("", "pods/eviction", "create"),
        ("", "pods", "delete"),
        ("apps", "deployments", "patch"),
        ("apps", "statefulsets", "patch"),
        ("", "nodes", "patch"),
    ]
    .into_iter()
    .chain(
        ["deployments/scale", "statefulsets/scale"]
            .into_iter()
            .flat_map(|r| ["get", "patch", "update"].map(|v| ("apps", r, v))),
    )
    .map(|(g, r, v)| (g.to_owned(), r.to_owned(), v.to_owned()))
    .collect();
    want.sort();
    assert_eq!(rules, want);
    let binding =
        find(&objects, "ClusterRoleBinding", "kubewitness-breakglass").expect("ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], "kubewitness-breakglass");
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "kubewitness:breakglass"}])
    );
    // kubewitness's ServiceAccount may impersonate that one group, and nothing else here.
    let own = find(
        &objects,
        "ClusterRole",
        "kubewitness-impersonate-breakglass",
    )
    .expect("the impersonation ClusterRole");
    assert_eq!(
        own["rules"],
        serde_json::json!([{"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"],
            "resourceNames": [proxy_core::config::DEFAULT_BREAKGLASS_GROUP]}])
    );
    let bound = find(
        &objects,
        "ClusterRoleBinding",
        "kubewitness-impersonate-breakglass",
    )
    .expect("its binding");
    assert_eq!(
        bound["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "kubewitness", "namespace": "kubewitness"}])
    );
}

#[test]
fn audit_policy_records_streams_at_request_response() {
    let path = repo().join("deploy/companions/audit-policy.yaml");
    let policy = audit::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    for resource in ["pods/exec", "pods/attach", "pods/log"] {
        assert_eq!(
            policy.level_for_core(resource),
            Some("RequestResponse"),
            "{resource}"
        );
    }
}

/// The one cargo invocation in `text` that builds proxy-bin for release, trimmed.
fn release_build_line(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim().trim_end_matches('\\').trim())
        .filter(|l| l.starts_with("cargo build --release"))
        .map(str::to_string)
        .collect()
}

#[test]
fn ci_runs_the_dockerfile_build_command() {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let expected = ["cargo build --release --locked -p proxy-bin --no-default-features"];
    assert_eq!(release_build_line(&dockerfile), expected);
    assert_eq!(release_build_line(&ci), expected);
}
