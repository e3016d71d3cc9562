//! The `scale` subresource of deployments and statefulsets (autoscaling/v1 `Scale`): a
//! view of the parent's `spec.replicas`, changed by PATCH or PUT.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::super::discovery::Resource;
use super::super::patch;
use super::super::rest::Call;
use super::super::server::State;
use super::{Written, commit, conflict, dry_run, object_body, query_dry_run, refuse, replicas};

/// The autoscaling/v1 `Scale` of a deployment or statefulset.
pub(super) fn scale_of(obj: &Value) -> Value {
    let selector: Vec<String> = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let m = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"]},
        "status": {"replicas": obj["status"]["replicas"], "selector": selector.join(",")},
    })
}

/// `PATCH` or `PUT` of `…/scale`: sets the parent's `spec.replicas`.
pub(super) fn scale(
    state: &State,
    call: &Call<'_>,
    parent: &Resource,
    r: &Resource,
    namespace: Option<&str>,
    name: &str,
) -> Written {
    let put = *call.method == Method::PUT;
    let options = if put { "UpdateOptions" } else { "PatchOptions" };
    let dry = dry_run(&query_dry_run(call), options)?;
    let kind = if put {
        None
    } else {
        Some(patch::kind(call.content_type)?)
    };
    let answer = commit(state, parent, namespace, name, dry, |current| {
        let old = scale_of(current);
        let new = match kind {
            Some(kind) => patch::apply(kind, &old, call.body)?,
            None => Value::Object(object_body(call.body, "Scale")?),
        };
        if put {
            if !matches!(new["kind"].as_str(), None | Some("Scale")) {
                return Err(refuse(400, format!("not a Scale object: {}", new["kind"])));
            }
            if new["metadata"]["name"] != name {
                return Err(refuse(
                    400,
                    format!(
                        "the name of the object ({}) does not match the name on the URL ({name})",
                        new["metadata"]["name"].as_str().unwrap_or_default()
                    ),
                ));
            }
        }
        let wanted_version = &new["metadata"]["resourceVersion"];
        if !wanted_version.is_null() && *wanted_version != old["metadata"]["resourceVersion"] {
            return Err(conflict(parent, current));
        }
        let Some(n) = replicas(r, name, &new["spec"]["replicas"])? else {
            return Err(refuse(422, "spec.replicas: Required value"));
        };
        let mut updated = current.clone();
        updated["spec"]["replicas"] = json!(n);
        if updated != *current {
            let generation = current["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            updated["metadata"]["generation"] = json!(generation);
        }
        Ok(updated)
    });
    answer.map(|obj| (StatusCode::OK, scale_of(&obj)))
}
