//! `k8s_get` and `k8s_list_events`: a decided GET, then compact text — a table for a list,
//! YAML without `managedFields` and the last-applied annotation for one object.

use serde_json::Value;

use super::args::{EventsArgs, GetArgs};
use super::kube::{Refused, get_json};
use super::{Caller, Reply, table};
use crate::policy::Reach;
use crate::request::percent_encode;
use crate::server::Proxy;

/// Resources `k8s_get` knows the API path of: (`read` name, API prefix).
const RESOURCES: &[(&str, &str)] = &[
    ("pods", "/api/v1"),
    ("services", "/api/v1"),
    ("endpoints", "/api/v1"),
    ("events", "/api/v1"),
    ("configmaps", "/api/v1"),
    ("persistentvolumeclaims", "/api/v1"),
    ("serviceaccounts", "/api/v1"),
    ("deployments.apps", "/apis/apps/v1"),
    ("statefulsets.apps", "/apis/apps/v1"),
    ("daemonsets.apps", "/apis/apps/v1"),
    ("replicasets.apps", "/apis/apps/v1"),
    ("jobs.batch", "/apis/batch/v1"),
    ("cronjobs.batch", "/apis/batch/v1"),
    ("ingresses.networking.k8s.io", "/apis/networking.k8s.io/v1"),
    (
        "horizontalpodautoscalers.autoscaling",
        "/apis/autoscaling/v2",
    ),
    ("poddisruptionbudgets.policy", "/apis/policy/v1"),
];

/// Never offered to an agent, whatever the policy reads: their values are credentials.
const NEVER: &[&str] = &["secrets"];

/// The largest default list.
const DEFAULT_LIMIT: u64 = 100;

/// The annotation `kubectl apply` keeps a whole copy of the object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The `read` entries of `reach` that `k8s_get` can serve, as the schema's enum.
pub(crate) fn offered_resources(reach: &Reach) -> Vec<String> {
    RESOURCES
        .iter()
        .filter(|(name, _)| {
            let plural = name.split('.').next().unwrap_or(name);
            reach.read.iter().any(|r| r == name || r == plural)
        })
        .map(|(name, _)| (*name).to_string())
        .collect()
}

/// The collection path of `resource` in `namespace`, when `k8s_get` knows it.
fn collection(resource: &str, namespace: &str) -> Option<String> {
    let plural = resource.split('.').next()?;
    RESOURCES
        .iter()
        .find(|(name, _)| *name == resource)
        .map(|(_, prefix)| format!("{prefix}/namespaces/{namespace}/{plural}"))
}

/// `k8s_get`.
pub(crate) async fn get(proxy: &Proxy, caller: &Caller, reach: &Reach, a: &GetArgs) -> Reply {
    let plural = a.resource.split('.').next().unwrap_or_default();
    if NEVER.contains(&plural) {
        return Reply::refused(Refused::new(
            "denied",
            format!(
                "kubewitness: reading {} is never allowed through the MCP gateway (their values are credentials)",
                a.resource
            ),
        ));
    }
    let offered = offered_resources(reach);
    let Some(path) =
        collection(&a.resource, &a.namespace).filter(|_| offered.contains(&a.resource))
    else {
        return Reply::refused(Refused::new(
            "denied",
            format!(
                "kubewitness: get {} denied: your policy lets you read only [{}]",
                a.resource,
                offered.join(", ")
            ),
        ));
    };
    let (path, query) = match &a.name {
        Some(name) => (format!("{path}/{name}"), String::new()),
        None => (
            path,
            list_query(
                a.label_selector.as_deref(),
                a.field_selector.as_deref(),
                a.limit,
            ),
        ),
    };
    match get_json(proxy, caller, &path, &query).await {
        Ok((v, rule)) if a.name.is_some() => Reply::text(object_yaml(v), rule),
        Ok((v, rule)) => Reply::text(table::objects(plural, &v), rule),
        Err(r) => Reply::refused(r),
    }
}

/// `k8s_list_events`.
pub(crate) async fn events(proxy: &Proxy, caller: &Caller, a: &EventsArgs) -> Reply {
    let mut fields = Vec::new();
    if let Some(name) = &a.involved_object {
        fields.push(format!("involvedObject.name={name}"));
    }
    if let Some(f) = &a.field_selector {
        fields.push(f.clone());
    }
    let fields = (!fields.is_empty()).then(|| fields.join(","));
    let query = list_query(None, fields.as_deref(), a.limit);
    let path = format!("/api/v1/namespaces/{}/events", a.namespace);
    match get_json(proxy, caller, &path, &query).await {
        Ok((v, rule)) => Reply::text(table::events(&v), rule),
        Err(r) => Reply::refused(r),
    }
}

/// `labelSelector`, `fieldSelector` and `limit`, encoded.
pub(crate) fn list_query(labels: Option<&str>, fields: Option<&str>, limit: Option<u64>) -> String {
    let mut q = format!("limit={}", limit.unwrap_or(DEFAULT_LIMIT));
    if let Some(l) = labels {
        q.push_str(&format!("&labelSelector={}", percent_encode(l)));
    }
    if let Some(f) = fields {
        q.push_str(&format!("&fieldSelector={}", percent_encode(f)));
    }
    q
}

/// One object as YAML, without `managedFields` and the last-applied annotation.
fn object_yaml(mut v: Value) -> String {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            ann.remove(LAST_APPLIED);
        }
    }
    serde_yaml_ng::to_string(&v).unwrap_or_else(|e| format!("(the object could not be shown: {e})"))
}
