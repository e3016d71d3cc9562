//! The writes the simulated cluster accepts, with the API server's semantics: delete a pod,
//! evict a pod, patch a deployment, statefulset or node, and read or change the `scale`
//! subresource of deployments and statefulsets. Each takes `dryRun=All` (query, or the
//! body's `DeleteOptions` for deletes and evictions): the write is validated and answered
//! exactly as a real one (same code, same body but for `resourceVersion`, which only a
//! stored write bumps, as on the API server), and nothing changes. Any other `dryRun`
//! value is refused with the API server's `422 Invalid` (its options validation, not a
//! `400`).
//!
//! What kubectl 1.32 sends (read with `kubectl -v=8` against this simulator; the test
//! `tests::kubectl_writes` drives each):
//!
//! | command | request |
//! |---|---|
//! | `kubectl delete pod P -n NS` | `DELETE /api/v1/namespaces/NS/pods/P`, `Content-Type: application/json`, body `{"propagationPolicy":"Background"}`; answer `200` with the pod (`deletionTimestamp` set); then `GET …/pods/P` until `404` |
//! | … `--dry-run=server` | the same DELETE, the body `{"propagationPolicy":"Background","dryRun":["All"]}` (no query parameter), no wait |
//! | `kubectl drain N --pod-selector …` (evict) | `POST /api/v1/namespaces/NS/pods/P/eviction`, `Content-Type: application/json`, body `{"kind":"Eviction","apiVersion":"policy/v1","metadata":{"name":"P","namespace":"NS","creationTimestamp":null},"deleteOptions":{}}`; answer `201` `Status` `Success`; then `GET …/pods/P` until `404` |
//! | … `--dry-run=server` | the same POST with `"deleteOptions":{"dryRun":["All"]}` in the body |
//! | `kubectl rollout restart deploy/D -n NS` | `PATCH /apis/apps/v1/namespaces/NS/deployments/D?fieldManager=kubectl-rollout`, `Content-Type: application/strategic-merge-patch+json`, body `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"RFC3339 time"}}}}}`; statefulsets the same under `statefulsets` |
//! | (dry run) | kubectl 1.32's `rollout restart` has no `--dry-run`; a client adds `&dryRun=All` to the same PATCH |
//! | `kubectl scale deploy/D --replicas=N -n NS` | `PATCH /apis/apps/v1/namespaces/NS/deployments/D/scale`, `Content-Type: application/merge-patch+json`, body `{"spec":{"replicas":N}}`; statefulsets the same |
//! | … `--dry-run=server` | the same PATCH with `?dryRun=All` |
//! | `kubectl cordon N` | `PATCH /api/v1/nodes/N`, `Content-Type: application/strategic-merge-patch+json`, body `{"spec":{"unschedulable":true}}` (uncordon: `{"spec":{"unschedulable":null}}`); skipped when the node already is as asked |
//! | … `--dry-run=server` | the same PATCH with `?dryRun=All` |
//!
//! Each command first reads what it changes (`GET` of the object, or of the node and a LIST
//! of its pods with `fieldSelector=spec.nodeName=N` for drain). Bodies are read up to
//! [`MAX_WRITE_BODY`] (`413` beyond); patches are applied by [`super::patch`] (`415` for an
//! unknown `Content-Type`).

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use super::discovery::Resource;
use super::patch::{self, Refused};
use super::respond::{self, Body};
use super::rest::{Call, not_allowed};
use super::server::State;

mod pods;
mod scale;

/// The largest write body read; a bigger one is refused with `413` before it is buffered.
pub(crate) const MAX_WRITE_BODY: usize = 1024 * 1024;

type Answer = Result<Value, Refused>;

/// A write's answer: its code and body, or a refusal.
type Written = Result<(StatusCode, Value), Refused>;

/// A refusal: the `Status` code and message.
fn refuse(code: u16, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
    }
}

/// The `Status` response of a refusal, with the reason the API server pairs with its code.
fn reply(refused: Refused) -> Response<Body> {
    let code = StatusCode::from_u16(refused.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = match code.as_u16() {
        400 => "BadRequest",
        404 => "NotFound",
        409 => "Conflict",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        _ => "InternalError",
    };
    respond::status(code, reason, refused.message)
}

/// `deployments.apps`, `pods`: how the API server names a resource in messages.
fn qualified(r: &Resource) -> String {
    let plural = r.name.split('/').next().unwrap_or(r.name);
    if r.group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{}", r.group)
    }
}

fn not_found(r: &Resource, name: &str) -> Refused {
    refuse(404, format!("{} \"{name}\" not found", qualified(r)))
}

/// Whether `values` (the `dryRun` options) ask for a dry run; `Err` (422) for any value
/// but `All`, as the API server's options validation answers for `options` (`PatchOptions`, …).
fn dry_run(values: &[String], options: &str) -> Result<bool, Refused> {
    match values.iter().find(|v| *v != "All") {
        None => Ok(!values.is_empty()),
        Some(bad) => Err(refuse(
            422,
            format!(
                "{options}.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: {bad:?}: \
                 supported values: \"All\""
            ),
        )),
    }
}

/// Every `dryRun` value of the query.
fn query_dry_run(call: &Call<'_>) -> Vec<String> {
    proxy_core::channel::url_pairs(call.query)
        .filter(|(k, _)| k == "dryRun")
        .map(|(_, v)| v)
        .collect()
}

/// The `dryRun` list of a `DeleteOptions` object, `None` when it has none.
fn options_dry_run(options: &Value) -> Result<Option<Vec<String>>, Refused> {
    match &options["dryRun"] {
        Value::Null => Ok(None),
        Value::Array(values) => values
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| refuse(400, "dryRun: expected a list of strings")),
        _ => Err(refuse(400, "dryRun: expected a list of strings")),
    }
}

/// A JSON object body (`{}` when empty); `what` names it in the `400`.
fn object_body(body: &[u8], what: &str) -> Result<Map<String, Value>, Refused> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(refuse(400, format!("the {what} is not a JSON object"))),
        Err(e) => Err(refuse(400, format!("invalid {what}: {e}"))),
    }
}

/// Runs `change` on the object: stored when `dry` is false, only computed when true.
fn commit(
    state: &State,
    r: &Resource,
    namespace: Option<&str>,
    name: &str,
    dry: bool,
    change: impl FnOnce(&Value) -> Answer,
) -> Answer {
    tracing::info!(resource = r.name, dry_run = dry, "sim: write");
    if dry {
        let current = state
            .store
            .get(r, namespace, name)
            .ok_or_else(|| not_found(r, name))?;
        change(&current)
    } else {
        state
            .store
            .update(r, namespace, name, change)
            .unwrap_or_else(|| Err(not_found(r, name)))
    }
}

fn done(written: Written) -> Response<Body> {
    match written {
        Ok((code, v)) => respond::json(code, &v),
        Err(refused) => reply(refused),
    }
}

/// A write on one object: `DELETE` of a pod, `PATCH` of a deployment, statefulset or node.
pub(crate) fn object(
    state: &Arc<State>,
    call: &Call<'_>,
    r: &Resource,
    namespace: Option<&str>,
    name: &str,
) -> Response<Body> {
    match call.method.as_str() {
        "DELETE" if r.verbs.contains(&"delete") => {
            done(pods::delete(state, call, r, namespace, name))
        }
        "PATCH" if r.verbs.contains(&"patch") => {
            let answer = dry_run(&query_dry_run(call), "PatchOptions").and_then(|dry| {
                let kind = patch::kind(call.content_type)?;
                commit(state, r, namespace, name, dry, |current| {
                    admit(r, current, patch::apply(kind, current, call.body)?)
                })
            });
            done(answer.map(|v| (StatusCode::OK, v)))
        }
        _ => not_allowed(call),
    }
}

/// The patched object as the API server stores it: identity and `status` kept from
/// `current` (a patch of the main resource cannot change them), `resourceVersion` checked
/// as a precondition, the spec validated and `generation` bumped when the spec changed.
fn admit(r: &Resource, current: &Value, mut patched: Value) -> Answer {
    let wanted_version = &patched["metadata"]["resourceVersion"];
    if !wanted_version.is_null() && *wanted_version != current["metadata"]["resourceVersion"] {
        return Err(conflict(r, current));
    }
    if !patched.is_object() || !patched["metadata"].is_object() || !patched["spec"].is_object() {
        return Err(refuse(422, "metadata and spec: Required value"));
    }
    for key in ["kind", "apiVersion", "status"] {
        patched[key] = current[key].clone();
    }
    for key in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "resourceVersion",
        "generation",
    ] {
        match &current["metadata"][key] {
            Value::Null => drop(patched["metadata"].as_object_mut().map(|m| m.remove(key))),
            v => patched["metadata"][key] = v.clone(),
        }
    }
    let name = current["metadata"]["name"].as_str().unwrap_or_default();
    match r.kind {
        "Node" => match &patched["spec"]["unschedulable"] {
            Value::Null | Value::Bool(_) => {}
            _ => return Err(refuse(400, "spec.unschedulable: expected a boolean")),
        },
        _ => {
            replicas(r, name, &patched["spec"]["replicas"])?;
        }
    }
    if patched["spec"] != current["spec"] && current["metadata"]["generation"].is_number() {
        let generation = current["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        patched["metadata"]["generation"] = json!(generation);
    }
    Ok(patched)
}

/// Checks a `spec.replicas` (absent is allowed): an integer ≥ 0.
fn replicas(r: &Resource, name: &str, value: &Value) -> Result<Option<i64>, Refused> {
    if value.is_null() {
        return Ok(None);
    }
    let Some(n) = value.as_i64().filter(|_| !value.is_f64()) else {
        return Err(refuse(400, "spec.replicas: expected an integer"));
    };
    if n < 0 {
        let kind = if r.name.ends_with("/scale") {
            "Scale.autoscaling".to_owned()
        } else {
            format!("{}.{}", r.kind, r.group)
        };
        return Err(refuse(
            422,
            format!(
                "{kind} \"{name}\" is invalid: spec.replicas: Invalid value: {n}: must be \
                 greater than or equal to 0"
            ),
        ));
    }
    Ok(Some(n))
}

fn conflict(r: &Resource, current: &Value) -> Refused {
    refuse(
        409,
        format!(
            "Operation cannot be fulfilled on {} {:?}: the object has been modified; please \
             apply your changes to the latest version and try again",
            qualified(r),
            current["metadata"]["name"].as_str().unwrap_or_default()
        ),
    )
}

/// Checks `options.preconditions` (`uid`, `resourceVersion`) against `current`.
fn preconditions(r: &Resource, options: &Value, current: &Value) -> Result<(), Refused> {
    for key in ["uid", "resourceVersion"] {
        let wanted = &options["preconditions"][key];
        if !wanted.is_null() && *wanted != current["metadata"][key] {
            return Err(conflict(r, current));
        }
    }
    Ok(())
}

/// `pods/NAME/eviction` (POST) and `deployments|statefulsets/NAME/scale` (GET, PATCH, PUT).
pub(crate) fn subresource(
    state: &Arc<State>,
    call: &Call<'_>,
    parent: &Resource,
    namespace: Option<&str>,
    name: &str,
    sub: &str,
) -> Response<Body> {
    let full = format!("{}/{sub}", parent.name);
    let Some(r) = super::discovery::RESOURCES
        .iter()
        .find(|r| r.group == parent.group && r.name == full)
    else {
        return respond::status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    match (sub, call.method.as_str()) {
        ("eviction", "POST") => done(pods::evict(state, call, parent, namespace, name)),
        ("scale", "GET") => match state.store.get(parent, namespace, name) {
            Some(obj) => respond::json(StatusCode::OK, &scale::scale_of(&obj)),
            None => reply(not_found(parent, name)),
        },
        ("scale", "PATCH" | "PUT") => done(scale::scale(state, call, parent, r, namespace, name)),
        _ => not_allowed(call),
    }
}
