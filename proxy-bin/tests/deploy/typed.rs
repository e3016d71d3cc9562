//! Every rendered object through its `k8s-openapi` type, unknown fields refused.
//!
//! k8s-openapi's deserializers skip fields they do not know, so a misspelt key
//! (`readOnlyRootFilesytem`) would parse and then do nothing in a cluster. An object is
//! therefore deserialized into its type, serialized back, and the result must equal the
//! original: any field the type dropped is reported with its path.

use k8s_openapi::api::{apps, core, flowcontrol, networking, policy, rbac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Checks one object: `Err` names the object and the first field that does not survive.
pub(crate) fn check_object(obj: &Value) -> Result<(), String> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let result = match (api_version, kind) {
        ("v1", "Namespace") => round_trip::<core::v1::Namespace>(obj),
        ("v1", "ServiceAccount") => round_trip::<core::v1::ServiceAccount>(obj),
        ("v1", "ConfigMap") => round_trip::<core::v1::ConfigMap>(obj),
        ("v1", "Service") => round_trip::<core::v1::Service>(obj),
        ("apps/v1", "Deployment") => round_trip::<apps::v1::Deployment>(obj),
        ("policy/v1", "PodDisruptionBudget") => round_trip::<policy::v1::PodDisruptionBudget>(obj),
        ("networking.k8s.io/v1", "NetworkPolicy") => {
            round_trip::<networking::v1::NetworkPolicy>(obj)
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => round_trip::<rbac::v1::ClusterRole>(obj),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            round_trip::<rbac::v1::ClusterRoleBinding>(obj)
        }
        ("rbac.authorization.k8s.io/v1", "Role") => round_trip::<rbac::v1::Role>(obj),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => round_trip::<rbac::v1::RoleBinding>(obj),
        ("flowcontrol.apiserver.k8s.io/v1", "FlowSchema") => {
            round_trip::<flowcontrol::v1::FlowSchema>(obj)
        }
        ("flowcontrol.apiserver.k8s.io/v1", "PriorityLevelConfiguration") => {
            round_trip::<flowcontrol::v1::PriorityLevelConfiguration>(obj)
        }
        _ => Err("no k8s-openapi type is listed for it in tests/deploy/typed.rs".to_string()),
    };
    result.map_err(|problem| format!("{}: {problem}", describe(obj)))
}

/// `Kind namespace/name`, for messages.
pub(crate) fn describe(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("(no kind)");
    let name = obj["metadata"]["name"].as_str().unwrap_or("(no name)");
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Deserializes `obj` as `T` (a type error names its path), serializes it back and compares.
pub(crate) fn round_trip<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<(), String> {
    let typed: T = serde_path_to_error::deserialize(obj.clone())
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    match first_difference(obj, &back, "") {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

/// The first path where `typed` (after the round trip) differs from `original`.
pub(crate) fn first_difference(original: &Value, typed: &Value, path: &str) -> Option<String> {
    match (original, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let at = format!("{path}.{key}");
                match b.get(key) {
                    None if value.is_null() => {}
                    None => return Some(format!("{at}: unknown field (a typo?)")),
                    Some(back) => {
                        if let Some(problem) = first_difference(value, back, &at) {
                            return Some(problem);
                        }
                    }
                }
            }
            b.keys()
                .find(|key| !a.contains_key(*key))
                .map(|key| format!("{path}.{key}: added by the round trip"))
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}[{i}]"))),
        _ if original == typed => None,
        _ => Some(format!("{path}: {original} became {typed}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(security_context: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "kubewitness", "namespace": "kubewitness"},
            "spec": {
                "selector": {"matchLabels": {"app": "kw"}},
                "template": {
                    "metadata": {"labels": {"app": "kw"}},
                    "spec": {"containers": [{
                        "name": "kubewitness",
                        "image": "kubewitness",
                        "securityContext": security_context,
                    }]},
                },
            },
        })
    }

    #[test]
    fn a_correct_object_survives() {
        let obj =
            deployment(json!({"readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}));
        assert_eq!(check_object(&obj), Ok(()));
    }

    #[test]
    fn a_planted_typo_fails_with_the_object_and_the_path() {
        let obj = deployment(json!({"readOnlyRootFilesytem": true}));
        let err = check_object(&obj).unwrap_err();
        assert_eq!(
            err,
            "Deployment kubewitness/kubewitness: \
             .spec.template.spec.containers[0].securityContext.readOnlyRootFilesytem: \
             unknown field (a typo?)"
        );
    }

    #[test]
    fn a_wrong_type_and_an_unlisted_kind_fail() {
        let mut obj = deployment(json!({}));
        obj["spec"]["replicas"] = json!("two");
        let err = check_object(&obj).unwrap_err();
        assert!(err.contains("spec.replicas"), "{err}");
        let unknown = json!({"apiVersion": "v1", "kind": "Pdo", "metadata": {"name": "x"}});
        assert!(
            check_object(&unknown)
                .unwrap_err()
                .starts_with("Pdo x: no k8s-openapi type")
        );
    }

    #[test]
    fn differences_in_lists_and_values_are_found() {
        let a = json!({"x": [1, {"y": "a"}]});
        assert_eq!(first_difference(&a, &a, ""), None);
        let b = json!({"x": [1, {"y": "b"}]});
        assert_eq!(
            first_difference(&a, &b, "").as_deref(),
            Some(".x[1].y: \"a\" became \"b\"")
        );
        let shorter = json!({"x": [1]});
        assert!(first_difference(&a, &shorter, "").is_some());
        let extra = json!({"x": [1, {"y": "a"}], "z": 0});
        assert_eq!(
            first_difference(&a, &extra, "").as_deref(),
            Some(".z: added by the round trip")
        );
        // An explicit null is the same as leaving the field out.
        assert_eq!(first_difference(&json!({"n": null}), &json!({}), ""), None);
    }
}
