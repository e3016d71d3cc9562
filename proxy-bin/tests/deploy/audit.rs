//! The API server audit policy (`deploy/companions/audit-policy.yaml`), read with a local
//! model of `audit.k8s.io/v1` `Policy` that refuses unknown fields (k8s-openapi has no
//! audit types: the policy is a file for `--audit-policy-file`, not an API object).

use serde::Deserialize;

const LEVELS: &[&str] = &["None", "Metadata", "Request", "RequestResponse"];
const STAGES: &[&str] = &[
    "RequestReceived",
    "ResponseStarted",
    "ResponseComplete",
    "Panic",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AuditPolicy {
    api_version: String,
    kind: String,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "a known key: parsed so that deny_unknown_fields accepts it"
    )]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    omit_stages: Vec<String>,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "a known key: parsed so that deny_unknown_fields accepts it"
    )]
    omit_managed_fields: Option<bool>,
    rules: Vec<AuditRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuditRule {
    level: String,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<GroupResources>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
    #[serde(default)]
    omit_stages: Vec<String>,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "a known key: parsed so that deny_unknown_fields accepts it"
    )]
    omit_managed_fields: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GroupResources {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
}

/// Parses and checks the policy: known fields, levels and stages only.
pub(crate) fn parse(text: &str) -> Result<AuditPolicy, String> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let policy: AuditPolicy =
        serde_path_to_error::deserialize(de).map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
    if policy.api_version != "audit.k8s.io/v1" || policy.kind != "Policy" {
        return Err(format!(
            "{} {} is not audit.k8s.io/v1 Policy",
            policy.api_version, policy.kind
        ));
    }
    let stages = policy
        .omit_stages
        .iter()
        .chain(policy.rules.iter().flat_map(|r| &r.omit_stages));
    if let Some(bad) = stages.into_iter().find(|s| !STAGES.contains(&s.as_str())) {
        return Err(format!("omitStages: unknown stage {bad}"));
    }
    if let Some((i, rule)) = policy
        .rules
        .iter()
        .enumerate()
        .find(|(_, r)| !LEVELS.contains(&r.level.as_str()))
    {
        return Err(format!("rules[{i}].level: unknown level {}", rule.level));
    }
    Ok(policy)
}

impl AuditPolicy {
    /// The level of the first rule that matches any user's request for a core `resource`
    /// (rules limited to some users, groups, verbs or namespaces are passed over).
    pub(crate) fn level_for_core(&self, resource: &str) -> Option<&str> {
        self.rules
            .iter()
            .filter(|r| {
                r.users.is_empty()
                    && r.user_groups.is_empty()
                    && r.verbs.is_empty()
                    && r.namespaces.is_empty()
                    && r.non_resource_urls.is_empty()
            })
            .find(|r| {
                r.resources.is_empty()
                    || r.resources.iter().any(|g| {
                        g.group.is_empty()
                            && g.resource_names.is_empty()
                            && g.resources.iter().any(|x| x == resource || x == "*")
                    })
            })
            .map(|r| r.level.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_typo_is_refused_with_its_path() {
        let err = parse(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n\
             - level: Metadata\n  resorces: [{group: \"\", resources: [pods]}]\n",
        )
        .unwrap_err();
        assert!(err.starts_with("rules[0].resorces: "), "{err}");
        assert!(err.contains("unknown field `resorces`"), "{err}");
        let err =
            parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Everything}]\n")
                .unwrap_err();
        assert_eq!(err, "rules[0].level: unknown level Everything");
    }

    #[test]
    fn the_first_matching_rule_gives_the_level() {
        let policy = parse(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n\
             - {level: None, users: [bob]}\n\
             - {level: Request, resources: [{group: \"\", resources: [pods/log]}]}\n\
             - {level: Metadata}\n",
        )
        .unwrap();
        assert_eq!(policy.level_for_core("pods/log"), Some("Request"));
        assert_eq!(policy.level_for_core("pods/exec"), Some("Metadata"));
    }
}
