//! Tool arguments: parsed strictly (unknown fields refused) and every field checked again
//! here, whatever the schema the client saw said. The bounds are the schemas' bounds.

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// `since_seconds` bounds.
pub(crate) const SINCE_SECONDS: (u64, u64) = (1, 3600);
/// `tail_lines` bounds.
pub(crate) const TAIL_LINES: (u64, u64) = (1, 2000);
/// `limit` bounds for lists.
pub(crate) const LIST_LIMIT: (u64, u64) = (1, 500);
/// `command` length bounds.
pub(crate) const ARGC: (usize, usize) = (1, 6);
/// The longest argument of a command.
pub(crate) const MAX_ARG_LEN: usize = 256;
/// The longest selector.
pub(crate) const MAX_SELECTOR_LEN: usize = 256;
/// The longest Kubernetes name (DNS subdomain).
pub(crate) const MAX_NAME_LEN: usize = 253;
/// The longest PromQL query (the gateway refuses longer ones too).
pub(crate) const MAX_QUERY_LEN: usize = 1000;
/// `range_seconds` bounds.
pub(crate) const RANGE_SECONDS: (u64, u64) = (60, 3600);
/// `step_seconds` bounds.
pub(crate) const STEP_SECONDS: (u64, u64) = (5, 60);

/// `k8s_get_logs`.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogsArgs {
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) container: Option<String>,
    pub(crate) since_seconds: Option<u64>,
    pub(crate) tail_lines: Option<u64>,
    #[serde(default)]
    pub(crate) previous: bool,
}

/// `k8s_exec_readonly`.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecArgs {
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) container: Option<String>,
    pub(crate) command: Vec<String>,
}

/// `k8s_list_events`.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsArgs {
    pub(crate) namespace: String,
    pub(crate) involved_object: Option<String>,
    pub(crate) field_selector: Option<String>,
    pub(crate) limit: Option<u64>,
}

/// `k8s_get`.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetArgs {
    pub(crate) resource: String,
    pub(crate) namespace: String,
    pub(crate) name: Option<String>,
    pub(crate) label_selector: Option<String>,
    pub(crate) field_selector: Option<String>,
    pub(crate) limit: Option<u64>,
}

/// `k8s_describe_pod`.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DescribeArgs {
    pub(crate) namespace: String,
    pub(crate) pod: String,
}

/// `prom_query`: an instant query, or a range query over the last `range_seconds`.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromArgs {
    pub(crate) query: String,
    pub(crate) range_seconds: Option<u64>,
    pub(crate) step_seconds: Option<u64>,
}

/// Parses and checks a tool's arguments; the error says which field and why.
pub(crate) fn parse<T: DeserializeOwned + Validate>(
    args: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<T, String> {
    let value = serde_json::Value::Object(args.unwrap_or_default());
    let parsed: T = serde_path_to_error::deserialize(value)
        .map_err(|e| format!("invalid arguments: {}: {}", e.path(), e.inner()))?;
    parsed
        .validate()
        .map_err(|e| format!("invalid arguments: {e}"))?;
    Ok(parsed)
}

/// Field checks beyond the types.
pub(crate) trait Validate {
    /// The first problem, naming its field.
    fn validate(&self) -> Result<(), String>;
}

impl Validate for LogsArgs {
    fn validate(&self) -> Result<(), String> {
        name("namespace", &self.namespace)?;
        name("pod", &self.pod)?;
        opt_name("container", self.container.as_deref())?;
        range("since_seconds", self.since_seconds, SINCE_SECONDS)?;
        range("tail_lines", self.tail_lines, TAIL_LINES)
    }
}

impl Validate for ExecArgs {
    fn validate(&self) -> Result<(), String> {
        name("namespace", &self.namespace)?;
        name("pod", &self.pod)?;
        opt_name("container", self.container.as_deref())?;
        if !(ARGC.0..=ARGC.1).contains(&self.command.len()) {
            return Err(format!("command: {} to {} arguments", ARGC.0, ARGC.1));
        }
        for arg in &self.command {
            if arg.is_empty() || arg.len() > MAX_ARG_LEN || arg.chars().any(char::is_control) {
                return Err(format!(
                    "command: each argument 1 to {MAX_ARG_LEN} bytes, no control characters"
                ));
            }
        }
        Ok(())
    }
}

impl Validate for EventsArgs {
    fn validate(&self) -> Result<(), String> {
        name("namespace", &self.namespace)?;
        opt_name("involved_object", self.involved_object.as_deref())?;
        selector("field_selector", self.field_selector.as_deref())?;
        range("limit", self.limit, LIST_LIMIT)
    }
}

impl Validate for GetArgs {
    fn validate(&self) -> Result<(), String> {
        name("resource", &self.resource)?;
        name("namespace", &self.namespace)?;
        opt_name("name", self.name.as_deref())?;
        selector("label_selector", self.label_selector.as_deref())?;
        selector("field_selector", self.field_selector.as_deref())?;
        range("limit", self.limit, LIST_LIMIT)
    }
}

impl Validate for DescribeArgs {
    fn validate(&self) -> Result<(), String> {
        name("namespace", &self.namespace)?;
        name("pod", &self.pod)
    }
}

impl Validate for PromArgs {
    fn validate(&self) -> Result<(), String> {
        let q = self.query.trim();
        if q.is_empty() || self.query.len() > MAX_QUERY_LEN {
            return Err(format!("query: 1 to {MAX_QUERY_LEN} bytes of PromQL"));
        }
        if self
            .query
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err("query: no control characters".into());
        }
        if self.step_seconds.is_some() && self.range_seconds.is_none() {
            return Err(
                "step_seconds: only with range_seconds (an instant query has no step)".into(),
            );
        }
        range("range_seconds", self.range_seconds, RANGE_SECONDS)?;
        range("step_seconds", self.step_seconds, STEP_SECONDS)
    }
}

/// A Kubernetes object name: lower-case letters, digits, `-` and `.`, at most 253 bytes.
pub(crate) fn name(field: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field}: a Kubernetes name (lower-case letters, digits, '-', '.'; 1 to {MAX_NAME_LEN} bytes)"
        ))
    }
}

pub(crate) fn opt_name(field: &str, value: Option<&str>) -> Result<(), String> {
    value.map_or(Ok(()), |v| name(field, v))
}

fn selector(field: &str, value: Option<&str>) -> Result<(), String> {
    let Some(v) = value else { return Ok(()) };
    let ok = !v.is_empty()
        && v.len() <= MAX_SELECTOR_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._/=!,() ".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field}: 1 to {MAX_SELECTOR_LEN} bytes of a Kubernetes selector"
        ))
    }
}

fn range(field: &str, value: Option<u64>, (lo, hi): (u64, u64)) -> Result<(), String> {
    match value {
        Some(v) if !(lo..=hi).contains(&v) => Err(format!("{field}: {v} is outside {lo}..={hi}")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(v: serde_json::Value) -> Option<serde_json::Map<String, serde_json::Value>> {
        v.as_object().cloned()
    }

    #[test]
    fn every_bound_is_checked_again() {
        let ok = parse::<LogsArgs>(args(
            json!({"namespace": "shop", "pod": "p", "tail_lines": 2000}),
        ));
        assert!(ok.is_ok());
        for (bad, why) in [
            (
                json!({"namespace": "shop", "pod": "p", "tail_lines": 100000}),
                "tail_lines: 100000 is outside 1..=2000",
            ),
            (
                json!({"namespace": "shop", "pod": "p", "since_seconds": 0}),
                "since_seconds: 0 is outside 1..=3600",
            ),
            (
                json!({"namespace": "Shop", "pod": "p"}),
                "namespace: a Kubernetes name",
            ),
            (
                json!({"namespace": "shop", "pod": "p", "follow": true}),
                "unknown field `follow`",
            ),
            (json!({"namespace": "shop"}), "missing field `pod`"),
        ] {
            let err = parse::<LogsArgs>(args(bad)).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
        let seven =
            json!({"namespace": "s", "pod": "p", "command": ["a", "b", "c", "d", "e", "f", "g"]});
        assert!(
            parse::<ExecArgs>(args(seven))
                .unwrap_err()
                .contains("1 to 6 arguments")
        );
        let ctl = json!({"namespace": "s", "pod": "p", "command": ["echo", "a\u{1b}[2J"]});
        assert!(
            parse::<ExecArgs>(args(ctl))
                .unwrap_err()
                .contains("no control characters")
        );
        let sel = json!({"resource": "pods", "namespace": "s", "label_selector": "a=b;rm"});
        assert!(
            parse::<GetArgs>(args(sel))
                .unwrap_err()
                .contains("label_selector")
        );
        for (bad, why) in [
            (
                json!({"query": "up", "range_seconds": 7 * 86400}),
                "range_seconds: 604800 is outside 60..=3600",
            ),
            (
                json!({"query": "up", "range_seconds": 600, "step_seconds": 1}),
                "step_seconds: 1 is outside 5..=60",
            ),
            (
                json!({"query": "up", "step_seconds": 10}),
                "only with range_seconds",
            ),
            (json!({"query": "x".repeat(1001)}), "query: 1 to 1000 bytes"),
            (json!({"query": " "}), "query: 1 to 1000 bytes"),
        ] {
            let err = parse::<PromArgs>(args(bad)).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
        assert!(
            parse::<PromArgs>(args(
                json!({"query": "up", "range_seconds": 3600, "step_seconds": 60})
            ))
            .is_ok()
        );
        let limit = json!({"namespace": "s", "limit": 501});
        assert!(
            parse::<EventsArgs>(args(limit))
                .unwrap_err()
                .contains("limit: 501")
        );
    }
}
