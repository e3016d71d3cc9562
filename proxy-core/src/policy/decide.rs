//! Deciding one request: pure, so the server, `policy explain` and the tests share it.
//!
//! Every rule is tried in order. A rule that does not apply stops at some stage (subject,
//! namespace, pod, action, command, flags); the first rule that allows wins and its limits
//! apply. When none allows, the denial names the rule that came closest (the furthest
//! stage, first in file order on ties) and why it stopped there, which is the most useful
//! thing to tell the caller and the policy author.

use std::sync::Arc;

pub use super::action::{Action, Request};
use super::{Limits, Policy, Rule, argv_matches};

/// The result of looking up an object's labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Lookup {
    /// Not looked up (no rule needed it).
    #[default]
    NotNeeded,
    /// The labels.
    Found(super::Labels),
    /// The lookup failed; rules that need it do not apply.
    Failed(String),
}

/// Labels looked up for a decision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The request's namespace's labels.
    pub namespace: Lookup,
    /// The request's pod's labels.
    pub pod: Lookup,
}

/// Which labels a decision needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// The namespace whose labels are needed.
    pub namespace: Option<String>,
    /// The `(namespace, pod)` whose labels are needed.
    pub pod: Option<(String, String)>,
}

/// The outcome of a decision.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The rule that allowed it, or the rule that came closest to allowing it.
    pub rule: Option<String>,
    /// Why, in a sentence.
    pub reason: String,
    /// The limits that apply (allowed requests only).
    pub limits: Option<Arc<Limits>>,
    /// What the caller sees on denial: `kubewitness: exec of [...] in ns/pod denied: ...`.
    pub message: String,
}

/// How far a rule got; a later stage is a closer miss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Subject,
    Namespace,
    Pod,
    Selector,
    Action,
    Command,
    Flags,
}

impl Policy {
    /// Which labels [`Policy::decide`] will need for `req`: only those of rules that apply
    /// to the caller and whose name globs match.
    pub fn needs(&self, req: &Request<'_>) -> Needs {
        let mut needs = Needs::default();
        let ns = req.namespace();
        for rule in self.rules.iter().filter(|r| applies_to(r, req)) {
            let Some(ns) = ns else { continue };
            if !rule.namespaces.iter().any(|g| g.matches(ns)) {
                continue;
            }
            if rule.namespace_selector.is_some() {
                needs.namespace = Some(ns.to_string());
            }
            if let (Some(pod), Some(_)) = (req.pod(), &rule.pod_selector)
                && rule.pods.iter().any(|g| g.matches(pod))
            {
                needs.pod = Some((ns.to_string(), pod.to_string()));
            }
        }
        needs
    }

    /// The rule whose token bucket pays for the label lookups `req` needs: the first rule
    /// with a rate limit that applies to the caller and asks for labels in the request's
    /// namespace. `None` when no such rule has a rate limit.
    pub fn lookup_payer(&self, req: &Request<'_>) -> Option<(&str, super::RateLimit)> {
        let ns = req.namespace()?;
        self.rules
            .iter()
            .filter(|r| applies_to(r, req) && r.namespaces.iter().any(|g| g.matches(ns)))
            .filter(|r| r.namespace_selector.is_some() || r.pod_selector.is_some())
            .find_map(|r| Some((r.name.as_str(), r.limits.rate?)))
    }

    /// The rule named `name`.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// Decides `req` given the looked-up `facts`.
    pub fn decide(&self, req: &Request<'_>, facts: &Facts) -> Decision {
        let what = req.describe();
        let deny = |rule: Option<&str>, reason: String| Decision {
            allowed: false,
            rule: rule.map(String::from),
            message: format!("kubewitness: {what} denied: {reason}"),
            reason,
            limits: None,
        };
        match &req.action {
            Action::Discovery => {
                return Decision {
                    allowed: true,
                    rule: None,
                    reason: "discovery documents are readable by every authenticated caller".into(),
                    limits: None,
                    message: String::new(),
                };
            }
            Action::NonResource => {
                return deny(
                    None,
                    "only discovery paths are served through kubewitness".into(),
                );
            }
            Action::Proxy => {
                return deny(
                    None,
                    "proxy subresources are generic tunnels and never allowed".into(),
                );
            }
            Action::Malformed(why) => return deny(None, why.clone()),
            _ => {}
        }
        let mut best: Option<(Stage, &Rule, String)> = None;
        for rule in &self.rules {
            match check(rule, req, facts) {
                Ok(()) => {
                    return Decision {
                        allowed: true,
                        rule: Some(rule.name.clone()),
                        reason: format!("allowed by rule {}", rule.name),
                        limits: Some(rule.limits.clone()),
                        message: String::new(),
                    };
                }
                Err((stage, why)) => {
                    if best.as_ref().is_none_or(|(s, _, _)| stage > *s) {
                        best = Some((stage, rule, why));
                    }
                }
            }
        }
        match best {
            None => deny(None, "the policy has no rules".into()),
            Some((Stage::Subject, _, _)) => {
                deny(None, format!("no rule applies to user {}", req.user))
            }
            Some((_, rule, why)) => deny(Some(&rule.name), why),
        }
    }
}

fn applies_to(rule: &Rule, req: &Request<'_>) -> bool {
    rule.applies(req.user, req.groups)
}

/// Whether `rule` is for this caller (by name, group, or `system:authenticated`).
pub(super) fn applies_to_caller(rule: &Rule, user: &str, groups: &[String]) -> bool {
    rule.applies(user, groups)
}

fn check(rule: &Rule, req: &Request<'_>, facts: &Facts) -> Result<(), (Stage, String)> {
    let name = &rule.name;
    if !applies_to(rule, req) {
        return Err((Stage::Subject, String::new()));
    }
    match req.namespace() {
        Some(ns) if !rule.namespaces.iter().any(|g| g.matches(ns)) => {
            return Err((
                Stage::Namespace,
                format!("no rule for you covers namespace {ns}"),
            ));
        }
        Some(_) => {}
        None => {
            let anywhere =
                rule.namespaces.iter().any(|g| g.is_any()) && rule.namespace_selector.is_none();
            if !anywhere {
                return Err((
                    Stage::Namespace,
                    format!(
                        "rule {name} is limited to some namespaces, so it cannot allow requests across namespaces"
                    ),
                ));
            }
        }
    }
    let pods_restricted = !rule.pods.iter().any(|g| g.is_any()) || rule.pod_selector.is_some();
    match req.pod() {
        Some(pod) if !rule.pods.iter().any(|g| g.matches(pod)) => {
            return Err((Stage::Pod, format!("rule {name} does not cover pod {pod}")));
        }
        None if req.is_pods() && pods_restricted => {
            return Err((
                Stage::Pod,
                format!("rule {name} is limited to some pods, so it cannot allow listing pods"),
            ));
        }
        _ => {}
    }
    check_selectors(rule, req, facts)?;
    check_action(rule, req)
}

/// The label selectors. Whatever the lookups found (labels that do not match, no such pod
/// or namespace, a failed read), the caller gets one text naming only what it asked for,
/// so denials are no oracle for objects it may not read.
fn check_selectors(rule: &Rule, req: &Request<'_>, facts: &Facts) -> Result<(), (Stage, String)> {
    let selected = |sel: Option<&super::Selector>, lookup: &Lookup| match sel {
        None => true,
        Some(sel) => matches!(lookup, Lookup::Found(labels) if sel.matches(labels)),
    };
    let namespaced = req.namespace().is_some();
    let with_pod = req.pod().is_some();
    if (namespaced && !selected(rule.namespace_selector.as_ref(), &facts.namespace))
        || (with_pod && !selected(rule.pod_selector.as_ref(), &facts.pod))
    {
        let what = match (req.namespace(), req.pod()) {
            (Some(ns), Some(pod)) => format!("pod {pod} in namespace {ns}"),
            (Some(ns), None) => format!("namespace {ns}"),
            (None, _) => "this request".to_string(),
        };
        return Err((
            Stage::Selector,
            format!("the selectors of rule {} do not select {what}", rule.name),
        ));
    }
    Ok(())
}

fn check_action(rule: &Rule, req: &Request<'_>) -> Result<(), (Stage, String)> {
    let name = &rule.name;
    let not_allowed =
        |what: &str| Err((Stage::Action, format!("no rule for you allows {what} here")));
    let flags = |stdin: bool, tty: bool, allow_stdin: bool, allow_tty: bool| {
        if stdin && !allow_stdin {
            Err((Stage::Flags, format!("rule {name} does not allow stdin")))
        } else if tty && !allow_tty {
            Err((
                Stage::Flags,
                format!("rule {name} does not allow a terminal (tty)"),
            ))
        } else {
            Ok(())
        }
    };
    match &req.action {
        Action::Read => {
            let r = req.info.resource().expect("a read is a resource request");
            if rule
                .read
                .iter()
                .any(|rr| rr.matches(&r.group, &r.resource, r.subresource.as_deref()))
            {
                Ok(())
            } else {
                let what = match &r.subresource {
                    Some(s) => format!("{}/{s}", r.resource),
                    None => r.resource.clone(),
                };
                not_allowed(&format!("reading {what}"))
            }
        }
        Action::Write => Err((Stage::Action, "kubewitness does not allow writes".into())),
        Action::Logs => {
            if rule.logs {
                Ok(())
            } else {
                not_allowed("reading logs")
            }
        }
        Action::Exec { argv, stdin, tty } => {
            let Some(exec) = &rule.exec else {
                return not_allowed("exec");
            };
            if !exec.commands.iter().any(|p| argv_matches(p, argv)) {
                return Err((Stage::Command, "no rule allows this command".into()));
            }
            flags(*stdin, *tty, exec.stdin, exec.tty)
        }
        Action::Attach { stdin, tty } => {
            if !rule.attach {
                return not_allowed("attach");
            }
            let (s, t) = rule
                .exec
                .as_ref()
                .map(|e| (e.stdin, e.tty))
                .unwrap_or((false, false));
            flags(*stdin, *tty, s, t)
        }
        Action::PortForward => {
            if !rule.port_forward {
                not_allowed("port-forward")
            } else if !rule.limits.unredacted {
                // Port-forward carries arbitrary protocols (TLS, database wire formats)
                // that masking would corrupt, so it is never redacted: only a rule that
                // says so may allow it.
                Err((
                    Stage::Flags,
                    format!(
                        "rule {name} allows port-forward but redacts its streams; port-forward bytes are recorded but cannot be redacted, so only a rule with `redact: false` allows it"
                    ),
                ))
            } else {
                Ok(())
            }
        }
        Action::EphemeralContainers => {
            if rule.ephemeral_containers {
                // The images and settings are checked on the patch body (`EphemeralRule`).
                Ok(())
            } else {
                not_allowed("ephemeral containers")
            }
        }
        Action::Discovery | Action::NonResource | Action::Proxy | Action::Malformed(_) => {
            Err((Stage::Action, "not a resource request".into()))
        }
    }
}
