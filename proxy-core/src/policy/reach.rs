//! What a policy could ever allow one caller: the union over the rules that apply to them.
//!
//! Used to show an agent only the tools it can use and to state its limits in their
//! descriptions. It never decides a request: every call is still decided by
//! [`super::Policy::decide`], which may refuse what this summary lists (a pod outside the
//! rule's `pods`, a label selector that does not match).

use super::{AUTHENTICATED_GROUP, LogLimits, Policy, Rule, SessionLimits};

/// The union of what the rules applying to one caller grant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reach {
    /// Namespace patterns of every applying rule (`*` for any).
    pub namespaces: Vec<String>,
    /// `read:` entries (`pods`, `deployments.apps`), without duplicates.
    pub read: Vec<String>,
    /// Namespace patterns of the rules that allow logs, with their maxima.
    pub logs: Vec<(Vec<String>, LogLimits)>,
    /// Namespace patterns, argv patterns (`**` any rest, `*` one argument) and session
    /// limits of the rules that allow exec.
    pub exec: Vec<(Vec<String>, Vec<String>, SessionLimits)>,
}

impl Policy {
    /// What the rules that apply to `user` in `groups` could ever allow.
    pub fn reach(&self, user: &str, groups: &[String]) -> Reach {
        let mut reach = Reach::default();
        for rule in self.rules.iter().filter(|r| r.applies(user, groups)) {
            let namespaces: Vec<String> = rule
                .namespaces
                .iter()
                .map(|g| g.as_str().to_string())
                .collect();
            for ns in &namespaces {
                push_unique(&mut reach.namespaces, ns);
            }
            for r in &rule.read {
                push_unique(&mut reach.read, &r.to_string());
            }
            if rule.logs {
                reach.logs.push((namespaces.clone(), rule.limits.logs));
            }
            if let Some(exec) = &rule.exec
                && !exec.commands.is_empty()
            {
                let commands = exec.commands.iter().map(|c| pattern_text(c)).collect();
                reach.exec.push((namespaces, commands, exec.limits));
            }
        }
        reach
    }
}

impl Rule {
    /// Whether the rule's subjects include `user` or one of `groups`.
    pub(super) fn applies(&self, user: &str, groups: &[String]) -> bool {
        self.users.iter().any(|u| u == user)
            || self
                .groups
                .iter()
                .any(|g| g == AUTHENTICATED_GROUP || groups.contains(g))
    }
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_string());
    }
}

fn pattern_text(pattern: &[super::ArgPattern]) -> String {
    let words: Vec<String> = pattern
        .iter()
        .map(|p| match p {
            super::ArgPattern::Literal(l) => format!("{l:?}"),
            super::ArgPattern::One => "*".into(),
            super::ArgPattern::Rest => "**".into(),
        })
        .collect();
    format!("[{}]", words.join(", "))
}

impl std::fmt::Display for super::ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.resource)?;
        if let Some(g) = &self.group {
            write!(f, ".{g}")?;
        }
        if let Some(s) = &self.subresource {
            write!(f, "/{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: a
  subjects: {users: [ann]}
  namespaces: [shop]
  read: [pods, deployments.apps]
  logs: {maxTailLines: 5}
  exec: {commands: [[echo, "**"], [seq, "*"]]}
- name: b
  subjects: {groups: [ops]}
  namespaces: ["pay-*"]
  read: [pods, events]
"#;

    #[test]
    fn reach_is_the_union_of_the_applying_rules() {
        let p = Policy::from_yaml(POLICY).unwrap();
        let ann = p.reach("ann", &["ops".into()]);
        assert_eq!(ann.namespaces, ["shop", "pay-*"]);
        assert_eq!(ann.read, ["pods", "deployments.apps", "events"]);
        assert_eq!(ann.logs.len(), 1);
        assert_eq!(ann.logs[0].1.max_tail_lines, Some(5));
        assert_eq!(ann.exec[0].1, [r#"["echo", **]"#, r#"["seq", *]"#]);
        let bob = p.reach("bob", &[]);
        assert_eq!(bob, Reach::default(), "no rule applies to bob");
        let ops = p.reach("olga", &["ops".into()]);
        assert!(ops.exec.is_empty() && ops.logs.is_empty());
    }
}
