//! The part of a denial that says which grant could allow the request and the command that
//! asks for it (one line: kubectl prints the `Status` message as is).

use crate::policy::{self, GrantDef, WriteAction, WriteVerb};

/// What a denial adds when elevation grants the caller may request would allow the
/// request: the first one and the command to ask for it (one line, as kubectl prints it).
pub(crate) fn elevation_hint(grants: &[&GrantDef]) -> String {
    hint(grants, "")
}

/// What a denied write adds when write grants the caller may request cover `action`: the
/// first one and the exact command to ask for it.
pub(crate) fn write_hint(grants: &[&GrantDef], action: &WriteAction) -> String {
    let verb = serde_json::to_value(action.verb)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut args = format!(" --action {verb}");
    if let Some(ns) = &action.namespace {
        args.push_str(&format!(" --namespace {ns}"));
    }
    args.push_str(&format!(" --name {}", action.name));
    if action.workload == Some(policy::Workload::StatefulSet) {
        args.push_str(" --kind statefulset");
    }
    if let (WriteVerb::Scale, Some(n)) = (action.verb, action.replicas) {
        args.push_str(&format!(" --replicas {n}"));
    }
    hint(grants, &args)
}

fn hint(grants: &[&GrantDef], args: &str) -> String {
    let Some(first) = grants.first() else {
        return String::new();
    };
    let others: Vec<String> = grants[1..]
        .iter()
        .map(|g| format!("\"{}\"", g.name))
        .collect();
    let others = match others.is_empty() {
        true => String::new(),
        false => format!(" (or {})", others.join(", ")),
    };
    format!(
        "; grant \"{}\"{others} could allow this: kubewitness access request {}{args} --reason \"…\"",
        first.name, first.name
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::access::Grant;
    use crate::policy::{Gives, Subjects, Workload, WriteScope};

    fn grant(name: &str) -> GrantDef {
        GrantDef {
            name: name.into(),
            requesters: Subjects::default(),
            approvers: Subjects::default(),
            approvals: 1,
            auto_approve: Subjects::default(),
            max_ttl: Duration::from_secs(900),
            gives: Gives::Write(WriteScope {
                actions: vec![WriteVerb::Scale],
                namespaces: Vec::new(),
                names: Vec::new(),
            }),
        }
    }

    #[test]
    fn a_denial_names_the_grant_and_the_command_on_one_line() {
        assert_eq!(elevation_hint(&[]), "");
        let (a, b) = (grant("payments-exec"), grant("payments-exec-2"));
        let hint = elevation_hint(&[&a, &b]);
        assert_eq!(
            hint,
            "; grant \"payments-exec\" (or \"payments-exec-2\") could allow this: \
             kubewitness access request payments-exec --reason \"…\""
        );
        let scale = WriteAction {
            verb: WriteVerb::Scale,
            namespace: Some("shop".into()),
            name: "web".into(),
            workload: Some(Workload::StatefulSet),
            replicas: Some(3),
        };
        let s = grant("scale-shop");
        let hint = write_hint(&[&s], &scale);
        assert_eq!(
            hint,
            "; grant \"scale-shop\" could allow this: kubewitness access request scale-shop \
             --action scale --namespace shop --name web --kind statefulset --replicas 3 \
             --reason \"…\""
        );
        let cordon = WriteAction {
            verb: WriteVerb::Cordon,
            namespace: None,
            name: "node-1".into(),
            workload: None,
            replicas: None,
        };
        let hint = write_hint(&[&s], &cordon);
        assert!(
            hint.contains("--action cordon --name node-1 --reason"),
            "{hint}"
        );
        assert!(!hint.contains('\n'));
        assert!(write_hint(&[], &cordon).is_empty());
    }

    #[test]
    fn only_an_elevation_rule_names_an_access_request() {
        let mut g = Grant {
            rule: Some("grant:payments-exec:01JD8Z6Q3X".into()),
            limits: Arc::default(),
            log_query: None,
            permit: None,
        };
        assert_eq!(g.elevation(), Some("01JD8Z6Q3X"));
        g.rule = Some("sre-debug".into());
        assert_eq!(g.elevation(), None);
        g.rule = None;
        assert_eq!(g.elevation(), None);
    }
}
