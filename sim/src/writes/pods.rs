//! Pod deletes and evictions: `DeleteOptions` (query, then body), dry runs, preconditions;
//! the pod leaves the store at once (the simulated cluster has no kubelet to wait for and
//! no PodDisruptionBudgets). Only the API object goes: exec, attach and logs are served
//! from the [`SimConfig`](crate::SimConfig) fixture and still answer for a deleted pod.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use serde_json::{Value, json};

use super::super::clock::rfc3339;
use super::super::discovery::Resource;
use super::super::respond;
use super::super::rest::Call;
use super::super::server::State;
use super::{
    Written, dry_run, not_found, object_body, options_dry_run, preconditions, query_dry_run, refuse,
};

/// The grace period of a pod deleted without one.
const DEFAULT_GRACE_SECONDS: i64 = 30;

/// `DELETE` of a pod, with `DeleteOptions` from the query and then the body (the body wins,
/// as on the API server). The pod leaves the store at once; the answer is the pod as the
/// API server returns it at the start of a graceful deletion.
pub(super) fn delete(
    state: &State,
    call: &Call<'_>,
    r: &Resource,
    namespace: Option<&str>,
    name: &str,
) -> Written {
    let options = Value::Object(object_body(call.body, "DeleteOptions")?);
    let dry_values = match options_dry_run(&options)? {
        Some(values) => values,
        None => query_dry_run(call),
    };
    let dry = dry_run(&dry_values, "DeleteOptions")?;
    let grace = match (
        &options["gracePeriodSeconds"],
        respond::int(call.query, "gracePeriodSeconds"),
    ) {
        (Value::Number(n), _) => n.as_i64().unwrap_or(DEFAULT_GRACE_SECONDS),
        (_, Ok(Some(n))) => n,
        (_, Ok(None)) => DEFAULT_GRACE_SECONDS,
        (_, Err(msg)) => return Err(refuse(400, msg)),
    };
    let mut pod = state
        .store
        .get(r, namespace, name)
        .ok_or_else(|| not_found(r, name))?;
    preconditions(r, &options, &pod)?;
    tracing::info!(resource = r.name, dry_run = dry, "sim: delete");
    if !dry {
        state.store.remove(r, namespace, name);
    }
    if grace > 0 {
        let at = SystemTime::now() + Duration::from_secs(grace.unsigned_abs());
        pod["metadata"]["deletionTimestamp"] = json!(rfc3339(at));
        pod["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
    }
    Ok((StatusCode::OK, pod))
}

/// `POST …/pods/NAME/eviction`: a policy/v1 (or v1beta1) `Eviction`. The simulated cluster
/// has no PodDisruptionBudgets, so an eviction always deletes the pod; the answer is `201`
/// with a `Success` `Status`, like the API server's.
pub(super) fn evict(
    state: &State,
    call: &Call<'_>,
    pods: &Resource,
    namespace: Option<&str>,
    name: &str,
) -> Written {
    let query = query_dry_run(call);
    dry_run(&query, "CreateOptions")?;
    let eviction = Value::Object(object_body(call.body, "Eviction")?);
    let kind_ok = matches!(eviction["kind"].as_str(), None | Some("Eviction"));
    let version_ok = matches!(
        eviction["apiVersion"].as_str(),
        None | Some("policy/v1" | "policy/v1beta1")
    );
    if !kind_ok || !version_ok {
        return Err(refuse(
            400,
            format!(
                "not a Eviction object: {} {}",
                eviction["apiVersion"], eviction["kind"]
            ),
        ));
    }
    if eviction["metadata"]["name"] != name {
        return Err(refuse(
            400,
            "name in URL does not match name in Eviction object",
        ));
    }
    if !eviction["metadata"]["namespace"].is_null()
        && eviction["metadata"]["namespace"] != namespace.unwrap_or_default()
    {
        return Err(refuse(
            400,
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let options = match &eviction["deleteOptions"] {
        Value::Null => json!({}),
        o @ Value::Object(_) => o.clone(),
        _ => return Err(refuse(400, "deleteOptions: expected an object")),
    };
    let in_body = options_dry_run(&options)?.unwrap_or_default();
    let values = if in_body.is_empty() {
        query
    } else if query.is_empty() || query == in_body {
        in_body
    } else {
        return Err(refuse(
            500,
            format!(
                "Non-matching dry-run options in request and content: {query:?} and {in_body:?}"
            ),
        ));
    };
    let pod = state
        .store
        .get(pods, namespace, name)
        .ok_or_else(|| not_found(pods, name))?;
    let dry = dry_run(&values, "DeleteOptions")?;
    preconditions(pods, &options, &pod)?;
    tracing::info!(dry_run = dry, "sim: eviction");
    if !dry {
        state.store.remove(pods, namespace, name);
    }
    let status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": 201,
    });
    Ok((StatusCode::CREATED, status))
}
