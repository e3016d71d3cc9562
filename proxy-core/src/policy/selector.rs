//! Label selectors (`matchLabels`, `matchExpressions`) with Kubernetes semantics: every
//! requirement must hold; `NotIn` and `DoesNotExist` hold when the key is absent.

use std::collections::BTreeMap;

use super::model::SelectorSpec;

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

/// A compiled label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    In { key: String, values: Vec<String> },
    NotIn { key: String, values: Vec<String> },
    Exists { key: String },
    DoesNotExist { key: String },
}

impl Selector {
    /// Compiles a selector; problems are pushed as `(sub-path, message)`.
    pub(crate) fn compile(spec: &SelectorSpec, problems: &mut Vec<(String, String)>) -> Selector {
        let mut requirements = Vec::new();
        for (k, v) in &spec.match_labels {
            if k.is_empty() {
                problems.push(("matchLabels".into(), "empty label key".into()));
            }
            requirements.push(Requirement::In {
                key: k.clone(),
                values: vec![v.clone()],
            });
        }
        for (i, e) in spec.match_expressions.iter().enumerate() {
            let path = format!("matchExpressions[{i}]");
            if e.key.is_empty() {
                problems.push((format!("{path}.key"), "empty label key".into()));
            }
            let key = e.key.clone();
            let needs_values = match e.operator.as_str() {
                "In" | "NotIn" => true,
                "Exists" | "DoesNotExist" => false,
                other => {
                    problems.push((
                        format!("{path}.operator"),
                        format!("unknown operator `{other}` (In, NotIn, Exists, DoesNotExist)"),
                    ));
                    continue;
                }
            };
            if needs_values == e.values.is_empty() {
                let want = if needs_values {
                    "needs at least one value"
                } else {
                    "takes no values"
                };
                problems.push((
                    format!("{path}.values"),
                    format!("operator {} {want}", e.operator),
                ));
            }
            let values = e.values.clone();
            requirements.push(match e.operator.as_str() {
                "In" => Requirement::In { key, values },
                "NotIn" => Requirement::NotIn { key, values },
                "Exists" => Requirement::Exists { key },
                _ => Requirement::DoesNotExist { key },
            });
        }
        if spec.match_labels.is_empty() && spec.match_expressions.is_empty() {
            problems.push((
                String::new(),
                "an empty selector matches everything; remove it instead".into(),
            ));
        }
        Selector { requirements }
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::In { key, values } => labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn { key, values } => {
                labels.get(key).is_none_or(|v| !values.contains(v))
            }
            Requirement::Exists { key } => labels.contains_key(key),
            Requirement::DoesNotExist { key } => !labels.contains_key(key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::ExpressionSpec;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> ExpressionSpec {
        ExpressionSpec {
            key: key.into(),
            operator: op.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn semantics() {
        let spec = SelectorSpec {
            match_labels: labels(&[("debug-ai-exec", "enabled")]),
            match_expressions: vec![
                expr("tier", "NotIn", &["db"]),
                expr("team", "Exists", &[]),
                expr("frozen", "DoesNotExist", &[]),
                expr("env", "In", &["dev", "staging"]),
            ],
        };
        let mut problems = Vec::new();
        let s = Selector::compile(&spec, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let base = [("debug-ai-exec", "enabled"), ("team", "x"), ("env", "dev")];
        assert!(s.matches(&labels(&base)));
        let mut l = labels(&base);
        l.insert("tier".into(), "db".into());
        assert!(!s.matches(&l));
        let mut l = labels(&base);
        l.insert("frozen".into(), "".into());
        assert!(!s.matches(&l));
        let mut l = labels(&base);
        l.insert("env".into(), "prod".into());
        assert!(!s.matches(&l));
        let mut l = labels(&base);
        l.remove("team");
        assert!(!s.matches(&l));
        assert!(!s.matches(&labels(&[
            ("debug-ai-exec", "disabled"),
            ("team", "x"),
            ("env", "dev")
        ])));
    }

    #[test]
    fn invalid_selectors_report_paths() {
        let spec = SelectorSpec {
            match_labels: Labels::new(),
            match_expressions: vec![
                expr("a", "Equals", &["x"]),
                expr("b", "In", &[]),
                expr("c", "Exists", &["y"]),
            ],
        };
        let mut problems = Vec::new();
        Selector::compile(&spec, &mut problems);
        let paths: Vec<_> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "matchExpressions[0].operator",
                "matchExpressions[1].values",
                "matchExpressions[2].values"
            ]
        );
        let mut problems = Vec::new();
        Selector::compile(&SelectorSpec::default(), &mut problems);
        assert_eq!(problems.len(), 1);
    }
}
