//! Recognising a client's write as a [`WriteAction`]: the method, the classified path, the
//! query, the content type and the body must each be exactly what kubectl sends for one of
//! the actions (see [`super`]). Bodies are parsed into structs that refuse unknown
//! and duplicate fields, so nothing can ride along with a recognised action.

use http::Method;
use serde::Deserialize;

use super::{MERGE_PATCH, STRATEGIC_MERGE_PATCH};
use super::{Workload, WriteAction, WriteVerb};
use crate::request::{RequestInfo, Target};

/// Query parameters kubectl adds that change nothing about what the write does.
const HARMLESS_PARAMS: &[&str] = &["fieldManager", "fieldValidation"];

pub(crate) fn recognise(
    method: &Method,
    info: &RequestInfo,
    query: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Option<WriteAction> {
    let Target::Resource(r) = &info.target else {
        return None;
    };
    if !harmless_query(query) || r.version != "v1" {
        return None;
    }
    let name = r.name.clone()?;
    let ct = content_type.map(media_type);
    let ns = r.namespace.clone();
    let action = |verb, namespace, workload, replicas| WriteAction {
        verb,
        namespace,
        name: name.clone(),
        workload,
        replicas,
    };
    match (
        method.as_str(),
        r.group.as_str(),
        r.resource.as_str(),
        r.subresource.as_deref(),
    ) {
        ("POST", "", "pods", Some("eviction")) => {
            let ev: Eviction = json(ct.as_deref(), "application/json", body)?;
            let ok = ev.api_version == "policy/v1"
                && ev.kind == "Eviction"
                && ev.metadata.name == name
                && ev
                    .metadata
                    .namespace
                    .as_ref()
                    .is_none_or(|n| Some(n) == ns.as_ref());
            ok.then(|| action(WriteVerb::Evict, ns.clone(), None, None))
        }
        ("DELETE", "", "pods", None) => {
            if !body.is_empty() {
                let opts: DeleteOptions = json(ct.as_deref(), "application/json", body)?;
                if !opts.harmless() {
                    return None;
                }
            }
            Some(action(WriteVerb::Delete, ns, None, None))
        }
        ("PATCH", "apps", kind, sub) => {
            let workload = match kind {
                "deployments" => Workload::Deployment,
                "statefulsets" => Workload::StatefulSet,
                _ => return None,
            };
            match sub {
                None => {
                    let p: RestartPatch = json(ct.as_deref(), STRATEGIC_MERGE_PATCH, body)?;
                    let at = &p.spec.template.metadata.annotations.restarted_at;
                    // Never forwarded (kubewitness stamps its own), but it must look like
                    // the RFC 3339 time kubectl writes.
                    let time_like = !at.is_empty()
                        && at.len() <= 40
                        && at
                            .bytes()
                            .all(|b| b.is_ascii_digit() || b"TZ:+-.".contains(&b));
                    if !time_like {
                        return None;
                    }
                    Some(action(WriteVerb::Restart, ns, Some(workload), None))
                }
                Some("scale") => {
                    let p: ScalePatch = json(ct.as_deref(), MERGE_PATCH, body)?;
                    Some(action(
                        WriteVerb::Scale,
                        ns,
                        Some(workload),
                        Some(p.spec.replicas),
                    ))
                }
                Some(_) => None,
            }
        }
        ("PATCH", "", "nodes", None) if ns.is_none() => {
            let p: NodePatch = json(ct.as_deref(), STRATEGIC_MERGE_PATCH, body)?;
            let verb = match p.spec.unschedulable? {
                Some(true) => WriteVerb::Cordon,
                Some(false) | None => WriteVerb::Uncordon,
            };
            Some(action(verb, None, None, None))
        }
        _ => None,
    }
}

/// Only the harmless parameters, each at most once; `dryRun` (or anything else) refuses.
fn harmless_query(query: &str) -> bool {
    let mut seen = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        if !HARMLESS_PARAMS.contains(&key) || seen.contains(&key) {
            return false;
        }
        seen.push(key);
    }
    true
}

/// The media type without parameters, lower case.
fn media_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The body parsed as `T`, when the content type is `want`.
fn json<T: for<'de> Deserialize<'de>>(ct: Option<&str>, want: &str, body: &[u8]) -> Option<T> {
    if ct != Some(want) {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// A `policy/v1` Eviction as `kubectl drain` sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Eviction {
    api_version: String,
    kind: String,
    metadata: EvictionMeta,
    #[serde(default, rename = "deleteOptions")]
    _delete_options: Option<Empty>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EvictionMeta {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    /// Go's zero time serialises as `null`; anything else is refused.
    #[serde(default, rename = "creationTimestamp")]
    _creation_timestamp: Option<()>,
}

/// `{}` and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// The delete options `kubectl delete pod` sends by default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeleteOptions {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    propagation_policy: Option<String>,
}

impl DeleteOptions {
    fn harmless(&self) -> bool {
        self.kind.as_deref().is_none_or(|k| k == "DeleteOptions")
            && self
                .api_version
                .as_deref()
                .is_none_or(|v| v == "v1" || v == "meta.k8s.io/v1")
            && self
                .propagation_policy
                .as_deref()
                .is_none_or(|p| p == "Background" || p == "Foreground")
    }
}

/// `{"spec":{"template":{"metadata":{"annotations":{RESTARTED_AT: time}}}}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartPatch {
    spec: RestartSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartSpec {
    template: RestartTemplate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartTemplate {
    metadata: RestartMeta,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartMeta {
    annotations: RestartAnnotations,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartAnnotations {
    #[serde(rename = "kubectl.kubernetes.io/restartedAt")]
    restarted_at: String,
}

/// `{"spec":{"replicas":N}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScalePatch {
    spec: ScaleSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleSpec {
    replicas: i32,
}

/// `{"spec":{"unschedulable":true|false|null}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodePatch {
    spec: NodeSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeSpec {
    /// Outer `None`: the key is missing (refused); inner `None`: `null`, what `kubectl
    /// uncordon` sends.
    #[serde(default, deserialize_with = "present")]
    unschedulable: Option<Option<bool>>,
}

/// A key that is present, `null` or not.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<bool>>, D::Error> {
    Option::<bool>::deserialize(d).map(Some)
}
