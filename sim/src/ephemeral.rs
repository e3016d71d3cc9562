//! Ephemeral containers (`kubectl debug`): a strategic merge patch of
//! `pods/NAME/ephemeralcontainers` adds them (merged by name); pods are then served with them
//! in `spec.ephemeralContainers` and running in `status.ephemeralContainerStatuses`; attaching
//! to one runs its `command` like any container's main process.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::clock::rfc3339;
use super::respond::{self, Body, bad_request};
use super::server::State;

/// The most ephemeral containers one pod gets.
pub(crate) const MAX_PER_POD: usize = 16;

/// Ephemeral containers added so far, by `(namespace, pod)`.
#[derive(Debug, Default)]
pub(crate) struct Added(Mutex<BTreeMap<(String, String), Vec<Value>>>);

impl Added {
    fn of(&self, namespace: &str, pod: &str) -> Vec<Value> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(namespace.to_string(), pod.to_string()))
            .cloned()
            .unwrap_or_default()
    }
}

/// `PATCH …/pods/NAME/ephemeralcontainers`: merges the patch's containers by name.
pub(crate) fn patch(state: &State, namespace: &str, name: &str, body: &[u8]) -> Response<Body> {
    let pods = super::discovery::resource("", "pods");
    let Some(pod) = pods.and_then(|r| state.store.get(r, Some(namespace), name)) else {
        return respond::not_found("pods", name);
    };
    let patch: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("invalid patch: {e}")),
    };
    let Some(new) = patch["spec"]["ephemeralContainers"].as_array() else {
        return bad_request("the patch has no spec.ephemeralContainers");
    };
    {
        let mut map = state.ephemeral.0.lock().unwrap_or_else(|p| p.into_inner());
        let list = map
            .entry((namespace.to_string(), name.to_string()))
            .or_default();
        for c in new {
            let Some(cname) = c["name"].as_str() else {
                return bad_request("an ephemeral container needs a name");
            };
            match list.iter().position(|x| x["name"] == cname) {
                Some(i) => list[i] = c.clone(),
                None if list.len() < MAX_PER_POD => list.push(c.clone()),
                None => return bad_request("too many ephemeral containers"),
            }
        }
    }
    respond::json(StatusCode::OK, &decorate(state, &pod))
}

/// `pod` as served: with its ephemeral containers, each running.
pub(crate) fn decorate(state: &State, pod: &Value) -> Value {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let added = state.ephemeral.of(namespace, name);
    if added.is_empty() || pod["kind"] != "Pod" {
        return pod.clone();
    }
    let started = rfc3339(SystemTime::now());
    let statuses: Vec<Value> = added
        .iter()
        .map(|c| {
            json!({
                "name": c["name"], "image": c["image"], "imageID": "", "ready": false,
                "restartCount": 0, "state": {"running": {"startedAt": started}},
                "containerID": format!("containerd://ephemeral-{}", c["name"].as_str().unwrap_or_default()),
            })
        })
        .collect();
    let mut pod = pod.clone();
    pod["spec"]["ephemeralContainers"] = json!(added);
    pod["status"]["ephemeralContainerStatuses"] = json!(statuses);
    pod
}

/// The command of ephemeral container `container` of the pod, if there is one.
pub(crate) fn command(
    state: &State,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Option<Vec<String>> {
    let added = state.ephemeral.of(namespace, pod);
    let c = added.iter().find(|c| c["name"] == container)?;
    let argv: Vec<String> = c["command"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(c["args"].as_array().into_iter().flatten())
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    Some(if argv.is_empty() {
        vec!["sh".into()]
    } else {
        argv
    })
}
