//! The writes a grant may give: one action from a fixed set, named exactly.
//!
//! A [`WriteAction`] is what a requester asks for and an approver approves: the verb, the
//! object (namespace and name; a workload kind for restart and scale) and, for scale, the
//! replica count. Its [`WriteAction::digest`] is what an approval is bound to. kubewitness
//! never forwards a client's write body: it recognises the client's request as one of
//! these actions ([`WriteAction::from_request`]) and sends the request it builds itself
//! ([`WriteAction::upstream`]), so what runs upstream is exactly what was approved.
//!
//! The canonical form, which [`WriteAction::digest`] hashes, is the compact JSON of the
//! action after [`WriteAction::canonical`]: the fields in declaration order (`verb`,
//! `namespace`, `name`, `workload`, `replicas`), absent ones left out, no whitespace, enum
//! values in lower case, and the workload of a restart or scale spelt out (`deployment`
//! when none was given). For example `evict pod shop/web-1` is
//! `{"verb":"evict","namespace":"shop","name":"web-1"}` and its digest is `sha256:` and the
//! lower-case hex SHA-256 of those bytes. There are no maps, so serde_json's output is
//! deterministic.
//!
//! What kubectl sends for each action (captured with `kubectl -v=8`, kubectl 1.32), and so
//! what [`WriteAction::from_request`] recognises:
//! - `kubectl drain` evicts: `POST /api/v1/namespaces/{ns}/pods/{name}/eviction`,
//!   `application/json`, a `policy/v1` `Eviction` naming the pod, `deleteOptions: {}`;
//! - `kubectl delete pod`: `DELETE /api/v1/namespaces/{ns}/pods/{name}` with
//!   `{"propagationPolicy":"Background"}` (any other delete option is not recognised);
//! - `kubectl rollout restart`: `PATCH /apis/apps/v1/namespaces/{ns}/{deployments|statefulsets}/{name}?fieldManager=kubectl-rollout`,
//!   a strategic merge patch setting only the `kubectl.kubernetes.io/restartedAt` annotation
//!   of the pod template;
//! - `kubectl scale`: `PATCH …/{name}/scale`, the merge patch `{"spec":{"replicas":N}}`;
//! - `kubectl cordon` / `uncordon`: `PATCH /api/v1/nodes/{name}`, the strategic merge patch
//!   `{"spec":{"unschedulable":true}}` / `{"spec":{"unschedulable":null}}`.
//!
//! A dry run is the same request with `?dryRun=All`; the API server honours the query on
//! every one of them (for an eviction it is carried into the eviction's delete options).

use std::time::SystemTime;

use bytes::Bytes;
use http::Method;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::request::RequestInfo;

mod parse;

/// The most replicas a scale action may ask for.
pub const MAX_REPLICAS: i32 = 10_000;

/// One of the writes a grant can give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteVerb {
    /// Evict a pod (`pods/eviction`, honours PodDisruptionBudgets).
    Evict,
    /// Delete a pod.
    Delete,
    /// `kubectl rollout restart` of a deployment or statefulset.
    Restart,
    /// Set the replicas of a deployment or statefulset.
    Scale,
    /// Mark a node unschedulable.
    Cordon,
    /// Mark a node schedulable.
    Uncordon,
}

/// The workload kinds restart and scale act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
}

/// One exact write.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WriteAction {
    /// What to do.
    pub verb: WriteVerb,
    /// The namespace (`None` for node actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
    /// For restart and scale: which kind of workload (default deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<Workload>,
    /// For scale: the replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// A request kubewitness sends upstream for an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamWrite {
    /// The HTTP method.
    pub method: Method,
    /// Path and query (`dryRun=All` included for a dry run).
    pub path_and_query: String,
    /// The body's content type, when there is a body.
    pub content_type: Option<&'static str>,
    /// The body (empty for none).
    pub body: Bytes,
}

impl WriteAction {
    /// Checks the action is well formed (names in the Kubernetes alphabet, a namespace
    /// exactly when the object is namespaced, `workload` only on restart/scale, `replicas`
    /// on scale only and within `0..=MAX_REPLICAS`); the error says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let verb = self.verb_name();
        check_name(&self.name).map_err(|e| format!("name: {e}"))?;
        match (&self.namespace, self.verb.is_node()) {
            (Some(_), true) => return Err(format!("{verb} acts on a node: give no namespace")),
            (None, false) => return Err(format!("{verb} needs a namespace")),
            (Some(ns), false) => check_namespace(ns).map_err(|e| format!("namespace: {e}"))?,
            (None, true) => {}
        }
        let workload_verb = matches!(self.verb, WriteVerb::Restart | WriteVerb::Scale);
        if self.workload.is_some() && !workload_verb {
            return Err(format!(
                "{verb} takes no workload kind (only restart and scale do)"
            ));
        }
        match (self.verb, self.replicas) {
            (WriteVerb::Scale, None) => Err("scale needs a replica count".into()),
            (WriteVerb::Scale, Some(n)) if !(0..=MAX_REPLICAS).contains(&n) => Err(format!(
                "replicas must be between 0 and {MAX_REPLICAS}, not {n}"
            )),
            (WriteVerb::Scale, Some(_)) => Ok(()),
            (_, Some(_)) => Err(format!("{verb} takes no replica count (only scale does)")),
            (_, None) => Ok(()),
        }
    }

    /// The action in its canonical form: a restart or scale names its workload kind
    /// (`deployment` when none was given). Two actions are the same write exactly when
    /// their canonical forms are equal.
    pub fn canonical(&self) -> WriteAction {
        let mut out = self.clone();
        if matches!(self.verb, WriteVerb::Restart | WriteVerb::Scale) && out.workload.is_none() {
            out.workload = Some(Workload::Deployment);
        }
        out
    }

    /// `sha256:<hex>` of the action's canonical JSON: what an approval is bound to.
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(&self.canonical()).expect("a WriteAction serialises");
        format!("sha256:{}", hex::encode(Sha256::digest(&json)))
    }

    /// One line for people: `evict pod shop/web-1`, `scale deployment shop/web to 3`.
    pub fn describe(&self) -> String {
        let verb = self.verb_name();
        let object = match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        };
        let kind = self.kind();
        match (self.verb, self.replicas) {
            (WriteVerb::Scale, Some(n)) => format!("{verb} {kind} {object} to {n}"),
            _ => format!("{verb} {kind} {object}"),
        }
    }

    /// Recognises a client's write (as kubectl sends it) as one of the actions, or `None`
    /// when it is anything else (another verb, another object, a body with anything more
    /// than the action needs). A dry-run request (`dryRun=All`) is `None` too.
    pub fn from_request(
        method: &Method,
        info: &RequestInfo,
        query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Option<WriteAction> {
        let action = parse::recognise(method, info, query, content_type, body)?;
        action.check().ok()?;
        Some(action)
    }

    /// The request kubewitness sends for this action; `now` stamps a restart.
    pub fn upstream(&self, dry_run: bool, now: SystemTime) -> UpstreamWrite {
        let ns = self.namespace.as_deref().unwrap_or_default();
        let name = &self.name;
        let workloads = match self.workload.unwrap_or(Workload::Deployment) {
            Workload::Deployment => "deployments",
            Workload::StatefulSet => "statefulsets",
        };
        let (method, path, content_type, body) = match self.verb {
            WriteVerb::Evict => (
                Method::POST,
                format!("/api/v1/namespaces/{ns}/pods/{name}/eviction"),
                Some("application/json"),
                serde_json::json!({
                    "apiVersion": "policy/v1",
                    "kind": "Eviction",
                    "metadata": {"name": name, "namespace": ns},
                })
                .to_string(),
            ),
            WriteVerb::Delete => (
                Method::DELETE,
                format!("/api/v1/namespaces/{ns}/pods/{name}"),
                None,
                String::new(),
            ),
            WriteVerb::Restart => (
                Method::PATCH,
                format!("/apis/apps/v1/namespaces/{ns}/{workloads}/{name}"),
                Some(STRATEGIC_MERGE_PATCH),
                serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
                    RESTARTED_AT: humantime::format_rfc3339_seconds(now).to_string(),
                }}}}})
                .to_string(),
            ),
            WriteVerb::Scale => (
                Method::PATCH,
                format!("/apis/apps/v1/namespaces/{ns}/{workloads}/{name}/scale"),
                Some(MERGE_PATCH),
                serde_json::json!({"spec": {"replicas": self.replicas.unwrap_or_default()}})
                    .to_string(),
            ),
            WriteVerb::Cordon | WriteVerb::Uncordon => (
                Method::PATCH,
                format!("/api/v1/nodes/{name}"),
                Some(STRATEGIC_MERGE_PATCH),
                serde_json::json!({"spec": {"unschedulable": self.verb == WriteVerb::Cordon}})
                    .to_string(),
            ),
        };
        let path_and_query = if dry_run {
            format!("{path}?dryRun=All")
        } else {
            path
        };
        UpstreamWrite {
            method,
            path_and_query,
            content_type,
            body: Bytes::from(body),
        }
    }

    fn verb_name(&self) -> &'static str {
        match self.verb {
            WriteVerb::Evict => "evict",
            WriteVerb::Delete => "delete",
            WriteVerb::Restart => "restart",
            WriteVerb::Scale => "scale",
            WriteVerb::Cordon => "cordon",
            WriteVerb::Uncordon => "uncordon",
        }
    }

    fn kind(&self) -> &'static str {
        match self.verb {
            WriteVerb::Evict | WriteVerb::Delete => "pod",
            WriteVerb::Cordon | WriteVerb::Uncordon => "node",
            WriteVerb::Restart | WriteVerb::Scale => match self.workload {
                Some(Workload::StatefulSet) => "statefulset",
                _ => "deployment",
            },
        }
    }
}

impl WriteVerb {
    /// Whether the verb acts on a node (cluster-scoped, no namespace).
    pub fn is_node(self) -> bool {
        matches!(self, WriteVerb::Cordon | WriteVerb::Uncordon)
    }
}

/// The annotation `kubectl rollout restart` sets on the pod template.
pub(super) const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// The content type of a strategic merge patch.
pub(super) const STRATEGIC_MERGE_PATCH: &str = "application/strategic-merge-patch+json";
/// The content type of a JSON merge patch.
pub(super) const MERGE_PATCH: &str = "application/merge-patch+json";

/// An object name: a DNS-1123 subdomain (lower-case letters, digits, `-` and `.`, starting
/// and ending with a letter or digit, at most 253 bytes), which every object these actions
/// touch (pods, deployments, statefulsets, nodes) must have. It is a subset of the
/// alphabet [`crate::request::is_name_byte`] lets into a path, and it keeps `.` and `..`
/// out of the paths [`WriteAction::upstream`] builds.
fn check_name(name: &str) -> Result<(), String> {
    check_dns(name, 253, true)
}

/// A namespace: a DNS-1123 label (no dots, at most 63 bytes).
fn check_namespace(ns: &str) -> Result<(), String> {
    check_dns(ns, 63, false)
}

fn check_dns(s: &str, max: usize, dots: bool) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty".into());
    }
    if s.len() > max {
        return Err(format!("longer than {max} characters"));
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let ok = s
        .bytes()
        .all(|b| alnum(b) || b == b'-' || (dots && b == b'.'));
    let ends = alnum(s.as_bytes()[0]) && alnum(s.as_bytes()[s.len() - 1]);
    let labels = !dots || s.split('.').all(|l| !l.is_empty());
    if ok && ends && labels {
        Ok(())
    } else {
        let what = if dots {
            "lower-case letters, digits, '-' and '.'"
        } else {
            "lower-case letters, digits and '-'"
        };
        Err(format!(
            "`{s}` is not a Kubernetes name ({what}, starting and ending with a letter or digit)"
        ))
    }
}
