//! `ephemeralContainers: {images: [...], allowPrivileged: false}`: which `kubectl debug`
//! containers a rule lets callers add.
//!
//! The decision on `PATCH pods/NAME/ephemeralcontainers` is made in two steps: the policy
//! allows the action when some rule lists images ([`super::Policy::decide`]), and that
//! rule's [`EphemeralRule`] (in its limits) then checks the patch body: every container it
//! names must use a listed image and must not ask for privilege (unless `allowPrivileged`),
//! added capabilities, privilege escalation, secrets from the environment (`envFrom`,
//! `valueFrom.secretKeyRef`) or volume mounts. The patch may change nothing but
//! `spec.ephemeralContainers`. Anything else, or a body that does not parse, is denied with
//! the reason.

use serde::Deserialize;
use serde_json::Value;

/// The longest image pattern accepted.
pub const MAX_IMAGE_LEN: usize = 512;

/// `ephemeralContainers:` as written: `false`/`true`, or the images and settings.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub(crate) enum EphemeralSpec {
    /// `false` (the default) or `true` (no image listed: allows nothing, with a warning).
    Flag(bool),
    /// The images and settings.
    Rule(EphemeralRuleSpec),
}

impl Default for EphemeralSpec {
    fn default() -> Self {
        EphemeralSpec::Flag(false)
    }
}

/// `{images: [...], allowPrivileged: false}`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct EphemeralRuleSpec {
    pub(crate) images: Vec<String>,
    pub(crate) allow_privileged: bool,
}

/// What a rule allows of ephemeral containers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EphemeralRule {
    /// Image references; a trailing `*` matches any rest (`busybox:*`).
    images: Vec<String>,
    /// Privileged containers, added capabilities and privilege escalation allowed.
    allow_privileged: bool,
}

impl EphemeralRule {
    /// Checks a spec; `None` when it allows nothing.
    pub(crate) fn compile(spec: &EphemeralSpec) -> Result<Option<EphemeralRule>, String> {
        let EphemeralSpec::Rule(rule) = spec else {
            return Ok(None);
        };
        for image in &rule.images {
            if image.is_empty()
                || image.len() > MAX_IMAGE_LEN
                || image.chars().any(|c| c.is_whitespace() || c.is_control())
                || image.trim_end_matches('*').contains('*')
            {
                return Err(format!(
                    "`{image}` is not an image reference (a trailing `*` is the only wildcard)"
                ));
            }
        }
        Ok((!rule.images.is_empty()).then(|| EphemeralRule {
            images: rule.images.clone(),
            allow_privileged: rule.allow_privileged,
        }))
    }

    fn image_listed(&self, image: &str) -> bool {
        self.images.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => image.starts_with(prefix),
            None => p == image,
        })
    }

    /// Checks a `pods/ephemeralcontainers` patch: `Ok` with the containers' names, or why not.
    pub fn check(&self, content_type: &str, body: &[u8]) -> Result<Vec<String>, String> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if !matches!(
            media,
            "application/strategic-merge-patch+json" | "application/merge-patch+json"
        ) {
            return Err(format!(
                "only strategic merge and merge patches (what kubectl debug sends) are checked, not `{media}`"
            ));
        }
        let patch: Value =
            serde_json::from_slice(body).map_err(|e| format!("the patch is not JSON: {e}"))?;
        let containers = containers(&patch)?;
        let mut names = Vec::new();
        for c in containers {
            let name = c["name"].as_str().unwrap_or_default();
            self.check_container(c)
                .map_err(|why| format!("ephemeral container {name}: {why}"))?;
            names.push(name.to_string());
        }
        Ok(names)
    }

    fn check_container(&self, c: &Value) -> Result<(), String> {
        let image = c["image"].as_str().unwrap_or_default();
        if !self.image_listed(image) {
            return Err(format!("image `{image}` is not among the rule's images"));
        }
        let sc = &c["securityContext"];
        if !self.allow_privileged {
            if sc["privileged"] == Value::Bool(true) {
                return Err("privileged containers are not allowed".into());
            }
            if sc["allowPrivilegeEscalation"] == Value::Bool(true) {
                return Err("privilege escalation is not allowed".into());
            }
            if sc["capabilities"]["add"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                return Err("added capabilities are not allowed".into());
            }
        }
        if c["envFrom"].as_array().is_some_and(|a| !a.is_empty()) {
            return Err("envFrom is not allowed".into());
        }
        let secret_env = c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| !e["valueFrom"].is_null());
        if secret_env {
            return Err("environment values from secrets or other objects are not allowed".into());
        }
        if c["volumeMounts"].as_array().is_some_and(|a| !a.is_empty())
            || c["volumeDevices"].as_array().is_some_and(|a| !a.is_empty())
        {
            return Err("volume mounts are not allowed".into());
        }
        Ok(())
    }
}

/// The containers a patch adds or changes; anything but `spec.ephemeralContainers` (and its
/// strategic-merge order directive) is refused.
fn containers(patch: &Value) -> Result<&Vec<Value>, String> {
    let top = patch.as_object().ok_or("the patch is not an object")?;
    if top.keys().any(|k| k != "spec") {
        return Err("the patch may only change spec.ephemeralContainers".into());
    }
    let spec = patch["spec"].as_object().ok_or("the patch has no spec")?;
    let allowed = [
        "ephemeralContainers",
        "$setElementOrder/ephemeralContainers",
    ];
    if spec.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err("the patch may only change spec.ephemeralContainers".into());
    }
    let list = patch["spec"]["ephemeralContainers"]
        .as_array()
        .ok_or("the patch adds no ephemeral container")?;
    if list.iter().any(|c| !c.is_object()) {
        return Err("an ephemeral container entry is not an object".into());
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SMP: &str = "application/strategic-merge-patch+json";

    fn rule(allow_privileged: bool) -> EphemeralRule {
        let spec = EphemeralSpec::Rule(EphemeralRuleSpec {
            images: vec!["busybox:1.36".into(), "ghcr.io/example/debug:*".into()],
            allow_privileged,
        });
        EphemeralRule::compile(&spec).unwrap().unwrap()
    }

    fn patch(container: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"spec": {
            "$setElementOrder/ephemeralContainers": [{"name": "debugger-x"}],
            "ephemeralContainers": [container],
        }}))
        .unwrap()
    }

    #[test]
    fn listed_images_without_privilege_are_allowed() {
        let ok = json!({"name": "debugger-x", "image": "busybox:1.36", "command": ["sh"], "stdin": true, "tty": true, "targetContainerName": "app"});
        assert_eq!(rule(false).check(SMP, &patch(ok)).unwrap(), ["debugger-x"]);
        let tagged = json!({"name": "d", "image": "ghcr.io/example/debug:2.0"});
        assert!(rule(false).check(SMP, &patch(tagged)).is_ok());
    }

    #[test]
    fn everything_else_is_denied_with_the_reason() {
        let bad = |c: Value| rule(false).check(SMP, &patch(c)).unwrap_err();
        assert!(bad(json!({"name": "d", "image": "evil:latest"})).contains("evil:latest"));
        let privileged =
            json!({"name": "d", "image": "busybox:1.36", "securityContext": {"privileged": true}});
        assert!(bad(privileged.clone()).contains("privileged"));
        assert!(rule(true).check(SMP, &patch(privileged)).is_ok());
        let caps = json!({"name": "d", "image": "busybox:1.36", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}});
        assert!(bad(caps).contains("capabilities"));
        let env = json!({"name": "d", "image": "busybox:1.36", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]});
        assert!(bad(env).contains("secrets"));
        let env_from = json!({"name": "d", "image": "busybox:1.36", "envFrom": [{"secretRef": {"name": "s"}}]});
        assert!(bad(env_from).contains("envFrom"));
        let mounts = json!({"name": "d", "image": "busybox:1.36", "volumeMounts": [{"name": "token", "mountPath": "/t"}]});
        assert!(bad(mounts).contains("mounts"));
        let host =
            serde_json::to_vec(&json!({"spec": {"hostPID": true, "ephemeralContainers": []}}))
                .unwrap();
        assert!(rule(true).check(SMP, &host).is_err());
        assert!(
            rule(false)
                .check("application/json-patch+json", b"[]")
                .is_err()
        );
        assert!(rule(false).check(SMP, b"not json").is_err());
    }

    #[test]
    fn specs_compile_or_say_why_not() {
        assert_eq!(EphemeralRule::compile(&EphemeralSpec::Flag(true)), Ok(None));
        let bad = EphemeralSpec::Rule(EphemeralRuleSpec {
            images: vec!["bad*image".into()],
            allow_privileged: false,
        });
        assert!(EphemeralRule::compile(&bad).is_err());
        let yaml: EphemeralSpec =
            serde_yaml_ng::from_str("{images: [busybox:1.36], allowPrivileged: false}").unwrap();
        assert!(matches!(yaml, EphemeralSpec::Rule(_)));
        let flag: EphemeralSpec = serde_yaml_ng::from_str("false").unwrap();
        assert_eq!(flag, EphemeralSpec::Flag(false));
    }
}
