//! `SelfSubjectRulesReview` (`kubectl auth can-i --list`): what the policy allows in a
//! namespace, intersected with the rules the API server lists for the impersonated caller.
//!
//! The policy side: every permission some rule names ([`Policy::permissions`]), each verb
//! kept only if [`Policy::decide`] allows it for the caller in that namespace. The API
//! server's side: its `resourceRules`; a permission is listed under each upstream rule that
//! covers it, with the verbs both allow. Non-resource URLs are upstream's, kept where the
//! policy allows a GET. `incomplete` and `evaluationError` are upstream's.
//!
//! [`Policy::permissions`]: crate::policy::Policy::permissions
//! [`Policy::decide`]: crate::policy::Policy::decide

use serde::Deserialize;
use serde_json::{Value, json};

use super::Proxy;
use crate::auth::Identity;
use crate::policy::Permission;
use crate::request::{RequestInfo, Resource, Target};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RulesReview {
    spec: RulesSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RulesSpec {
    namespace: String,
}

/// A permission with the verbs the policy allows.
struct Allowed {
    perm: Permission,
    verbs: Vec<&'static str>,
}

/// The combined `SelfSubjectRulesReview`.
pub(super) async fn rules(
    proxy: &Proxy,
    identity: &Identity,
    review: Value,
    mut upstream: Value,
) -> Result<Value, String> {
    let review: RulesReview = serde_json::from_value(review)
        .map_err(|e| format!("invalid SelfSubjectRulesReview: {e}"))?;
    let ns = review.spec.namespace;
    let mut allowed = Vec::new();
    for perm in proxy.policy().permissions() {
        let mut verbs = Vec::new();
        for verb in perm.verbs {
            let info = RequestInfo {
                verb: (*verb).to_string(),
                target: Target::Resource(Resource {
                    group: perm.group.clone().unwrap_or_default(),
                    version: "v1".into(),
                    namespace: (!ns.is_empty()).then(|| ns.clone()),
                    resource: perm.resource.clone(),
                    name: None,
                    subresource: perm.subresource.clone(),
                }),
            };
            if proxy
                .access
                .review_any_command(proxy.upstream.client(), identity, &info)
                .await
                .allowed
            {
                verbs.push(*verb);
            }
        }
        if !verbs.is_empty() {
            allowed.push(Allowed { perm, verbs });
        }
    }
    let up = &upstream["status"];
    let resource_rules = intersect(&allowed, up["resourceRules"].as_array());
    let mut non_resource = Vec::new();
    for rule in up["nonResourceRules"].as_array().into_iter().flatten() {
        if !has(&rule["verbs"], "get") {
            continue;
        }
        let mut urls = Vec::new();
        for url in strings(&rule["nonResourceURLs"]) {
            let info = RequestInfo {
                verb: "get".into(),
                target: Target::NonResource(url.to_string()),
            };
            if proxy
                .access
                .review(proxy.upstream.client(), identity, &info, None)
                .await
                .allowed
            {
                urls.push(url.to_string());
            }
        }
        if !urls.is_empty() {
            non_resource.push(json!({"verbs": ["get"], "nonResourceURLs": urls}));
        }
    }
    let incomplete = up["incomplete"].as_bool().unwrap_or(false);
    let error = up["evaluationError"].clone();
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource,
        "incomplete": incomplete,
    });
    if error.is_string() {
        status["evaluationError"] = error;
    }
    upstream["status"] = status;
    Ok(upstream)
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// Whether the string list `v` holds `item` or `*`.
fn has(v: &Value, item: &str) -> bool {
    strings(v).any(|s| s == item || s == "*")
}

/// Whether an RBAC `resources` list covers `resource[/sub]`.
fn covers_resource(resources: &Value, resource: &str, sub: Option<&str>) -> bool {
    strings(resources).any(|r| match (r.split_once('/'), sub) {
        _ if r == "*" => true,
        (None, None) => r == resource,
        (Some((res, s)), Some(sub)) => (res == resource || res == "*") && (s == sub || s == "*"),
        _ => false,
    })
}

/// Each allowed permission under each upstream rule that covers it.
fn intersect(allowed: &[Allowed], upstream: Option<&Vec<Value>>) -> Vec<Value> {
    let mut out = Vec::new();
    for rule in upstream.into_iter().flatten() {
        for a in allowed {
            let p = &a.perm;
            let groups: Vec<&str> = match &p.group {
                Some(g) if has(&rule["apiGroups"], g) => vec![g.as_str()],
                Some(_) => continue,
                None => strings(&rule["apiGroups"]).collect(),
            };
            if groups.is_empty()
                || !covers_resource(&rule["resources"], &p.resource, p.subresource.as_deref())
            {
                continue;
            }
            let verbs: Vec<&str> = a
                .verbs
                .iter()
                .copied()
                .filter(|v| has(&rule["verbs"], v))
                .collect();
            if verbs.is_empty() {
                continue;
            }
            let name = match &p.subresource {
                Some(s) => format!("{}/{s}", p.resource),
                None => p.resource.clone(),
            };
            let mut entry = json!({"verbs": verbs, "apiGroups": groups, "resources": [name]});
            if let Some(names) = rule.get("resourceNames").filter(|n| n.is_array()) {
                entry["resourceNames"] = names.clone();
            }
            out.push(entry);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_resource_lists_are_read_like_rbac() {
        let r = json!(["pods", "deployments/*", "*/status"]);
        assert!(covers_resource(&r, "pods", None));
        assert!(!covers_resource(&r, "pods", Some("exec")));
        assert!(covers_resource(&r, "deployments", Some("scale")));
        assert!(covers_resource(&r, "pods", Some("status")));
        assert!(!covers_resource(&r, "events", None));
        assert!(covers_resource(&json!(["*"]), "pods", Some("exec")));
    }

    #[test]
    fn only_what_both_allow_is_listed() {
        let allowed = vec![Allowed {
            perm: Permission {
                group: None,
                resource: "pods".into(),
                subresource: None,
                verbs: crate::policy::READ_VERBS,
            },
            verbs: vec!["get", "list", "watch"],
        }];
        let up = vec![
            json!({"verbs": ["get", "delete"], "apiGroups": [""], "resources": ["pods"]}),
            json!({"verbs": ["*"], "apiGroups": ["apps"], "resources": ["deployments"]}),
        ];
        let out = intersect(&allowed, Some(&up));
        assert_eq!(
            out,
            vec![json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]})]
        );
    }
}
