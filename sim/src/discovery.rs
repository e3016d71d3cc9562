//! Legacy (unaggregated) discovery: `/version`, `/api`, `/api/v1`, `/apis` and the group
//! versions, built from one table of the resources the simulated cluster serves.
//!
//! kubectl ≥ 1.30 asks for aggregated discovery (`Accept:
//! application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,…,application/json`).
//! Answering with `Content-Type: application/json` and the legacy `APIVersions` /
//! `APIGroupList` bodies makes client-go fall back to one request per group version, exactly
//! as it does against an API server that predates aggregated discovery.

use serde_json::{Value, json};

/// One kind of object the simulated cluster serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resource {
    /// API group; empty for the core group.
    pub(crate) group: &'static str,
    /// `v1` everywhere in the simulated cluster.
    pub(crate) version: &'static str,
    /// Plural resource name (`pods`), or `pods/exec` for a subresource.
    pub(crate) name: &'static str,
    pub(crate) singular: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) namespaced: bool,
    pub(crate) verbs: &'static [&'static str],
    pub(crate) short_names: &'static [&'static str],
    /// A subresource served in another group version (`pods/eviction` is `policy/v1`,
    /// `deployments/scale` `autoscaling/v1`): discovery's `group` and `version`, which
    /// `kubectl drain` and `kubectl scale` look for.
    pub(crate) other_version: Option<(&'static str, &'static str)>,
}

const READ_ONLY: &[&str] = &["get", "list", "watch"];
const READ_DELETE: &[&str] = &["delete", "get", "list", "watch"];
const CONNECT: &[&str] = &["create", "get"];
const READ_PATCH: &[&str] = &["get", "list", "patch", "watch"];
const SCALE: &[&str] = &["get", "patch", "update"];

const fn core(
    name: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    verbs: &'static [&'static str],
    short_names: &'static [&'static str],
) -> Resource {
    Resource {
        group: "",
        version: "v1",
        name,
        singular,
        kind,
        namespaced,
        verbs,
        short_names,
        other_version: None,
    }
}

/// A subresource of `parent`'s group served as `kind` of `group`/`version`.
const fn sub(
    parent: Resource,
    name: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
    (group, version): (&'static str, &'static str),
) -> Resource {
    Resource {
        name,
        singular: "",
        kind,
        verbs,
        short_names: &[],
        other_version: Some((group, version)),
        ..parent
    }
}

const PODS: Resource = core("pods", "pod", "Pod", true, READ_DELETE, &["po"]);
const DEPLOYMENTS: Resource = apps("deployments", "deployment", "Deployment", &["deploy"]);
const STATEFULSETS: Resource = apps("statefulsets", "statefulset", "StatefulSet", &["sts"]);

const fn apps(
    name: &'static str,
    singular: &'static str,
    kind: &'static str,
    short: &'static [&'static str],
) -> Resource {
    Resource {
        group: "apps",
        version: "v1",
        name,
        singular,
        kind,
        namespaced: true,
        verbs: READ_PATCH,
        short_names: short,
        other_version: None,
    }
}

/// Every resource and subresource the simulated cluster serves, in discovery order.
pub(crate) const RESOURCES: &[Resource] = &[
    core(
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        READ_ONLY,
        &["cm"],
    ),
    core("events", "event", "Event", true, READ_ONLY, &["ev"]),
    core(
        "namespaces",
        "namespace",
        "Namespace",
        false,
        READ_ONLY,
        &["ns"],
    ),
    core("nodes", "node", "Node", false, READ_PATCH, &["no"]),
    PODS,
    core("pods/attach", "", "PodAttachOptions", true, CONNECT, &[]),
    sub(
        PODS,
        "pods/eviction",
        "Eviction",
        &["create"],
        ("policy", "v1"),
    ),
    core("pods/exec", "", "PodExecOptions", true, CONNECT, &[]),
    core("pods/log", "", "Pod", true, &["get"], &[]),
    core(
        "pods/portforward",
        "",
        "PodPortForwardOptions",
        true,
        CONNECT,
        &[],
    ),
    core("secrets", "secret", "Secret", true, READ_ONLY, &[]),
    core("services", "service", "Service", true, READ_ONLY, &["svc"]),
    DEPLOYMENTS,
    sub(
        DEPLOYMENTS,
        "deployments/scale",
        "Scale",
        SCALE,
        ("autoscaling", "v1"),
    ),
    Resource {
        verbs: READ_ONLY,
        ..apps("replicasets", "replicaset", "ReplicaSet", &["rs"])
    },
    STATEFULSETS,
    sub(
        STATEFULSETS,
        "statefulsets/scale",
        "Scale",
        SCALE,
        ("autoscaling", "v1"),
    ),
    Resource {
        group: "authentication.k8s.io",
        version: "v1",
        name: "tokenreviews",
        singular: "tokenreview",
        kind: "TokenReview",
        namespaced: false,
        verbs: &["create"],
        short_names: &[],
        other_version: None,
    },
];

/// The non-core groups, in `/apis` order.
const GROUPS: &[&str] = &["apps", "authentication.k8s.io"];

/// The top-level (non-sub) resource `name` of `group`, if served.
pub(crate) fn resource(group: &str, name: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.name == name)
}

impl Resource {
    /// `v1` or `apps/v1`.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether `list` is among the verbs (a collection that GET can read).
    pub(crate) fn listable(&self) -> bool {
        self.verbs.contains(&"list")
    }
}

/// `GET /version`.
pub(crate) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.4-kubewitness-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T16:03:34Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `GET /api`: `APIVersions`.
pub(crate) fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

/// `GET /apis`: `APIGroupList`.
pub(crate) fn group_list() -> Value {
    let groups: Vec<Value> = GROUPS
        .iter()
        .map(|g| {
            let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /api/v1` or `/apis/{group}/v1`: the `APIResourceList`, if the group is served.
pub(crate) fn resource_list(group: &str, version: &str) -> Option<Value> {
    if version != "v1" || !(group.is_empty() || GROUPS.contains(&group)) {
        return None;
    }
    let resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group)
        .map(|r| {
            let mut v = json!({
                "name": r.name,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": r.verbs,
            });
            if !r.short_names.is_empty() {
                v["shortNames"] = json!(r.short_names);
            }
            if let Some((group, version)) = r.other_version {
                v["group"] = json!(group);
                v["version"] = json!(version);
            }
            v
        })
        .collect();
    let group_version = if group.is_empty() {
        "v1".to_owned()
    } else {
        format!("{group}/v1")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources
    }))
}
