//! Label and field selectors (`labelSelector=app=api,tier!=db`, `fieldSelector=metadata.name=x`)
//! with the apimachinery grammar: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.

use std::collections::BTreeMap;

use serde_json::Value;

/// The event fields a field selector may name, as the API server's event field set has them.
pub(crate) const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "type",
];

/// The longest selector accepted (the API server has no such limit; this bounds parsing).
pub(crate) const MAX_SELECTOR_LEN: usize = 4096;

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals { key: String, value: String },
    NotEquals { key: String, value: String },
    In { key: String, values: Vec<String> },
    NotIn { key: String, values: Vec<String> },
    Exists { key: String },
    DoesNotExist { key: String },
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Selector {
    requirements: Vec<Requirement>,
}

/// Splits on commas outside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn set(rest: &str) -> Result<Vec<String>, String> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("found '{rest}', expected: '('"))?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
    if values.iter().any(|v| !valid_value(v)) {
        return Err(format!("invalid value in set '{inner}'"));
    }
    Ok(values)
}

fn requirement(term: &str) -> Result<Requirement, String> {
    let term = term.trim();
    if let Some(key) = term.strip_prefix('!') {
        let key = key.trim();
        return valid_key(key)
            .then(|| Requirement::DoesNotExist { key: key.into() })
            .ok_or_else(|| format!("invalid label key \"{key}\""));
    }
    let (key, op, value) = if let Some((k, v)) = term.split_once("!=") {
        (k, "!=", v)
    } else if let Some((k, v)) = term.split_once("==") {
        (k, "=", v)
    } else if let Some((k, v)) = term.split_once('=') {
        (k, "=", v)
    } else if let Some((k, v)) = term.split_once(" notin ") {
        (k, "notin", v)
    } else if let Some((k, v)) = term.split_once(" in ") {
        (k, "in", v)
    } else {
        (term, "", "")
    };
    let (key, value) = (key.trim().to_owned(), value.trim().to_owned());
    if !valid_key(&key) {
        return Err(format!("invalid label key \"{key}\""));
    }
    match op {
        "=" | "!=" if !valid_value(&value) => Err(format!("invalid label value: \"{value}\"")),
        "=" => Ok(Requirement::Equals { key, value }),
        "!=" => Ok(Requirement::NotEquals { key, value }),
        "in" => Ok(Requirement::In {
            key,
            values: set(&value)?,
        }),
        "notin" => Ok(Requirement::NotIn {
            key,
            values: set(&value)?,
        }),
        _ => Ok(Requirement::Exists { key }),
    }
}

impl Selector {
    /// Parses a label selector; the error is the message for a 400 `Status`.
    pub(crate) fn parse(s: &str) -> Result<Selector, String> {
        if s.len() > MAX_SELECTOR_LEN {
            return Err(format!("selector longer than {MAX_SELECTOR_LEN} bytes"));
        }
        if s.trim().is_empty() {
            return Ok(Selector::default());
        }
        let requirements = split_top_level(s)
            .into_iter()
            .map(requirement)
            .collect::<Result<_, _>>()?;
        Ok(Selector { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals { key, value } => labels.get(key) == Some(value),
            Requirement::NotEquals { key, value } => labels.get(key) != Some(value),
            Requirement::In { key, values } => labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn { key, values } => {
                !labels.get(key).is_some_and(|v| values.contains(v))
            }
            Requirement::Exists { key } => labels.contains_key(key),
            Requirement::DoesNotExist { key } => !labels.contains_key(key),
        })
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub(crate) fn matches_object(&self, object: &Value) -> bool {
        let labels = object["metadata"]["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        self.matches(&labels)
    }
}

/// A field selector over the fields every resource supports (`metadata.name`,
/// `metadata.namespace`), the pod field `kubectl drain` asks for (`spec.nodeName`) and those
/// of events that `kubectl describe` asks for ([`EVENT_FIELDS`]), with `=`, `==` and `!=`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses a field selector; the error is the message for a 400 `Status`.
    pub(crate) fn parse(s: &str) -> Result<FieldSelector, String> {
        if s.len() > MAX_SELECTOR_LEN {
            return Err(format!("selector longer than {MAX_SELECTOR_LEN} bytes"));
        }
        let mut terms = Vec::new();
        for term in s.split(',').filter(|t| !t.trim().is_empty()) {
            let (field, equal, value) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{term}'; can't understand '{term}'"
                ));
            };
            let field = field.trim();
            if field != "metadata.name"
                && field != "metadata.namespace"
                && field != "spec.nodeName"
                && !EVENT_FIELDS.contains(&field)
            {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push((field.to_owned(), equal, value.trim().to_owned()));
        }
        Ok(FieldSelector { terms })
    }

    /// Whether the object satisfies every term.
    pub(crate) fn matches_object(&self, object: &Value) -> bool {
        self.terms.iter().all(|(field, equal, value)| {
            let actual = field
                .split('.')
                .fold(object, |v, key| &v[key])
                .as_str()
                .unwrap_or_default();
            (actual == value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn label_selector_grammar() {
        let l = labels(&[("app", "api"), ("tier", "backend")]);
        for (sel, want) in [
            ("", true),
            ("app=api", true),
            ("app==api", true),
            ("app!=api", false),
            ("app=api,tier=backend", true),
            ("app=api,tier=db", false),
            ("tier in (db, backend)", true),
            ("tier notin (db,backend)", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("missing!=x", true),
        ] {
            assert_eq!(Selector::parse(sel).unwrap().matches(&l), want, "{sel}");
        }
        for bad in ["app=a b", "=x", "tier in db", "in (a)", "!"] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
        assert!(Selector::parse(&"a".repeat(MAX_SELECTOR_LEN + 1)).is_err());
    }

    #[test]
    fn field_selector_supports_name_and_namespace() {
        let obj = serde_json::json!({"metadata": {"name": "web-0", "namespace": "default"}});
        assert!(
            FieldSelector::parse("metadata.name=web-0")
                .unwrap()
                .matches_object(&obj)
        );
        assert!(
            !FieldSelector::parse("metadata.namespace!=default")
                .unwrap()
                .matches_object(&obj)
        );
        assert!(FieldSelector::parse("spec.restartPolicy=x").is_err());
        let event =
            serde_json::json!({"involvedObject": {"kind": "Pod", "name": "api-7", "uid": "u1"}});
        let describe = "involvedObject.name=api-7,involvedObject.kind=Pod,involvedObject.uid=u1";
        assert!(
            FieldSelector::parse(describe)
                .unwrap()
                .matches_object(&event)
        );
        let other = "involvedObject.name=api-7,involvedObject.uid=u2";
        assert!(!FieldSelector::parse(other).unwrap().matches_object(&event));
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
