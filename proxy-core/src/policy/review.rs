//! What `kubectl auth can-i` needs from the policy: requests to put to [`Policy::decide`].
//!
//! A self review never gets a second copy of the rules. `can-i create pods/exec` is a
//! question about some command, so [`Policy::exec_examples`] turns every rule's argv
//! patterns into one argv each pattern allows, and the server decides each. `can-i --list`
//! is a question about everything, so [`Policy::grants`] lists what each rule names
//! (resources, verbs) as candidates, and the server keeps those `decide` allows.

use super::{ArgPattern, Policy};

/// A candidate permission: verbs on `resource[/subresource]` of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    /// The API group; `None` for "any group" (a bare `read` entry).
    pub group: Option<String>,
    /// The resource.
    pub resource: String,
    /// The subresource.
    pub subresource: Option<String>,
    /// The verbs to ask about.
    pub verbs: &'static [&'static str],
}

/// The verbs of a `read` entry.
pub const READ_VERBS: &[&str] = &["get", "list", "watch"];
/// The verbs of a streaming subresource (the POST and the WebSocket GET).
pub const STREAM_VERBS: &[&str] = &["create", "get"];

impl Permission {
    fn core(sub: &str, verbs: &'static [&'static str]) -> Permission {
        Permission {
            group: Some(String::new()),
            resource: "pods".into(),
            subresource: Some(sub.into()),
            verbs,
        }
    }
}

impl Policy {
    /// One argv per exec pattern of every rule, which that pattern allows: literals as
    /// written, `*` as one argument, `**` as none.
    pub fn exec_examples(&self) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = Vec::new();
        for exec in self.rules.iter().filter_map(|r| r.exec.as_ref()) {
            for pattern in &exec.commands {
                let argv: Vec<String> = pattern
                    .iter()
                    .filter_map(|p| match p {
                        ArgPattern::Literal(l) => Some(l.clone()),
                        ArgPattern::One => Some("x".into()),
                        ArgPattern::Rest => None,
                    })
                    .collect();
                if !out.contains(&argv) {
                    out.push(argv);
                }
            }
        }
        out
    }

    /// Every permission some rule names, without deciding for whom or where.
    pub fn permissions(&self) -> Vec<Permission> {
        let mut out: Vec<Permission> = Vec::new();
        let mut push = |g: Permission| {
            if !out.contains(&g) {
                out.push(g);
            }
        };
        for rule in &self.rules {
            for r in &rule.read {
                push(Permission {
                    group: r.group.clone(),
                    resource: r.resource.clone(),
                    subresource: r.subresource.clone(),
                    verbs: READ_VERBS,
                });
            }
            if rule.logs {
                push(Permission::core("log", &["get"]));
            }
            if rule.exec.is_some() {
                push(Permission::core("exec", STREAM_VERBS));
            }
            if rule.attach {
                push(Permission::core("attach", STREAM_VERBS));
            }
            if rule.port_forward {
                push(Permission::core("portforward", STREAM_VERBS));
            }
            if rule.ephemeral_containers {
                push(Permission::core("ephemeralcontainers", &["patch"]));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_and_grants_follow_the_rules() {
        let p = Policy::from_yaml(
            "apiVersion: kubewitness/v1\nkind: Policy\nrules:\n- name: r\n  subjects: {users: [a]}\n  namespaces: [shop]\n  read: [pods, deployments.apps]\n  logs: {}\n  exec: {commands: [[ls, \"*\", \"**\"], [\"**\"]]}\n",
        )
        .unwrap();
        assert_eq!(
            p.exec_examples(),
            vec![vec!["ls".to_string(), "x".into()], vec![]]
        );
        let perms = p.permissions();
        assert_eq!(perms.len(), 4);
        assert_eq!(perms[0].group, None);
        assert_eq!(perms[1].group.as_deref(), Some("apps"));
        assert_eq!(perms[2].subresource.as_deref(), Some("log"));
        assert_eq!(perms[3].verbs, STREAM_VERBS);
    }
}
