//! The writes a grant may give: one action from a fixed set, named exactly.
//!
//! A [`WriteAction`] is what a requester asks for and an approver approves: the verb, the
//! object (namespace and name; a workload kind for restart and scale) and, for scale, the
//! replica count. Its [`WriteAction::digest`] is what an approval is bound to. kubewitness
//! never forwards a client's write body: it recognises the client's request as one of
//! these actions ([`WriteAction::from_request`]) and sends the request it builds itself
//! ([`WriteAction::upstream`]), so what runs upstream is exactly what was approved.

use std::time::SystemTime;

use bytes::Bytes;
use http::Method;
use serde::{Deserialize, Serialize};

use crate::request::RequestInfo;

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
        unimplemented!("skeleton: filled in on issue-17b")
    }

    /// `sha256:<hex>` of the action's canonical JSON: what an approval is bound to.
    pub fn digest(&self) -> String {
        unimplemented!("skeleton: filled in on issue-17b")
    }

    /// One line for people: `evict pod shop/web-1`, `scale deployment shop/web to 3`.
    pub fn describe(&self) -> String {
        unimplemented!("skeleton: filled in on issue-17b")
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
        let _ = (method, info, query, content_type, body);
        None
    }

    /// The request kubewitness sends for this action; `now` stamps a restart.
    pub fn upstream(&self, dry_run: bool, now: SystemTime) -> UpstreamWrite {
        let _ = (dry_run, now);
        unimplemented!("skeleton: filled in on issue-17b")
    }
}
