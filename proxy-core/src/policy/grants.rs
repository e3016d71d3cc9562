//! `grants:` — what may be asked for, by whom, approved by whom, for how long.
//!
//! A grant is either an elevation (a rule, same schema as `rules:` but without `subjects`,
//! that applies to the requester for the approved TTL) or a write (one action from
//! [`super::write::WriteVerb`], scoped by namespace and name globs). Approvers are never the
//! requester and never an agent (`agents:` at the top of the file).

use std::time::Duration;

use super::glob::Glob;
use super::write::{WriteAction, WriteVerb};
use super::{AUTHENTICATED_GROUP, Facts, Policy, Request, Rule};

/// The longest TTL an elevation may have.
pub const MAX_ELEVATION_TTL: Duration = Duration::from_secs(12 * 3600);
/// The longest TTL a write grant may have.
pub const MAX_WRITE_TTL: Duration = Duration::from_secs(3600);
/// The most grants a policy may have.
pub const MAX_GRANTS: usize = 256;

/// Users and groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subjects {
    /// User names.
    pub users: Vec<String>,
    /// Group names.
    pub groups: Vec<String>,
}

impl Subjects {
    /// Whether `user` or one of `groups` is named (`system:authenticated`, implied for
    /// every caller, names everyone).
    pub fn contains(&self, user: &str, groups: &[String]) -> bool {
        self.users.iter().any(|u| u == user)
            || self
                .groups
                .iter()
                .any(|g| g == AUTHENTICATED_GROUP || groups.contains(g))
    }
}

/// What a grant gives.
#[derive(Clone, Debug)]
pub enum Gives {
    /// A rule that applies to the requester for the TTL.
    Elevation(Box<Rule>),
    /// One write action.
    Write(WriteScope),
}

/// The writes a write grant may be asked for.
#[derive(Clone, Debug)]
pub struct WriteScope {
    /// The verbs.
    pub actions: Vec<WriteVerb>,
    /// Namespace globs (node actions ignore them).
    pub namespaces: Vec<Glob>,
    /// Object name globs; `["*"]` when not given.
    pub names: Vec<Glob>,
}

impl WriteScope {
    /// Whether `action` is within the scope.
    pub fn allows(&self, action: &WriteAction) -> bool {
        let namespace_ok = action.verb.is_node()
            || action
                .namespace
                .as_deref()
                .is_some_and(|ns| self.namespaces.iter().any(|g| g.matches(ns)));
        self.actions.contains(&action.verb)
            && namespace_ok
            && self.names.iter().any(|g| g.matches(&action.name))
    }
}

/// One checked grant.
#[derive(Clone, Debug)]
pub struct GrantDef {
    /// Its name (unique in the policy).
    pub name: String,
    /// Who may request it.
    pub requesters: Subjects,
    /// Who may approve it (never the requester, never an agent).
    pub approvers: Subjects,
    /// How many distinct approvers it takes (at least 1).
    pub approvals: u32,
    /// Requesters in these are approved at once.
    pub auto_approve: Subjects,
    /// The longest TTL that may be asked for (and the default).
    pub max_ttl: Duration,
    /// What it gives.
    pub gives: Gives,
}

/// An approved elevation in force, for [`Policy::with_elevations`].
#[derive(Clone, Copy, Debug)]
pub struct Elevated<'a> {
    /// The grant's name.
    pub grant: &'a str,
    /// The access request's id.
    pub id: &'a str,
    /// The requester (the only subject of the added rule).
    pub user: &'a str,
}

impl GrantDef {
    /// `elevation` or `write`.
    pub fn kind(&self) -> &'static str {
        match self.gives {
            Gives::Elevation(_) => "elevation",
            Gives::Write(_) => "write",
        }
    }

    /// The grant's rule made the requester's own: only `user`, named `name`.
    fn rule_for(&self, user: &str, name: String) -> Option<Rule> {
        let Gives::Elevation(rule) = &self.gives else {
            return None;
        };
        let mut rule = (**rule).clone();
        rule.name = name;
        rule.users = vec![user.to_string()];
        rule.groups = Vec::new();
        Some(rule)
    }
}

impl Policy {
    /// The grants, in file order.
    pub fn grants(&self) -> &[GrantDef] {
        &self.grants
    }

    /// The grant named `name`.
    pub fn grant(&self, name: &str) -> Option<&GrantDef> {
        self.grants.iter().find(|g| g.name == name)
    }

    /// Whether the caller is an agent (`agents:`): agents can never approve.
    pub fn is_agent(&self, user: &str, groups: &[String]) -> bool {
        self.agents.users.iter().any(|u| u == user)
            || self.agents.groups.iter().any(|g| groups.contains(g))
    }

    /// This policy plus, for each elevation in force, its grant's rule applying to the
    /// requester alone (named `grant:<grant>:<id>`), after every rule of the file. An
    /// elevation whose grant is no longer in the policy adds nothing.
    pub fn with_elevations(&self, elevations: &[Elevated<'_>]) -> Policy {
        let mut out = self.clone();
        for e in elevations {
            let name = format!("grant:{}:{}", e.grant, e.id);
            if let Some(rule) = self.grant(e.grant).and_then(|g| g.rule_for(e.user, name)) {
                out.rules.push(rule);
            }
        }
        out
    }

    /// The elevation grants the caller may request whose rule would allow `req` (for a
    /// denial's message).
    pub fn elevations_allowing(&self, req: &Request<'_>) -> Vec<&GrantDef> {
        self.grants
            .iter()
            .filter(|g| g.requesters.contains(req.user, req.groups))
            .filter(|g| {
                let Some(rule) = g.rule_for(req.user, format!("grant:{}", g.name)) else {
                    return false;
                };
                let alone = Policy {
                    rules: vec![rule],
                    global: self.global,
                    warnings: Vec::new(),
                    grants: Vec::new(),
                    agents: Subjects::default(),
                };
                alone.decide(req, &Facts::default()).allowed
            })
            .collect()
    }

    /// The write grants the caller may request that cover `action` (for a denial's message
    /// and to check a request).
    pub fn writes_allowing(
        &self,
        user: &str,
        groups: &[String],
        action: &WriteAction,
    ) -> Vec<&GrantDef> {
        self.grants
            .iter()
            .filter(|g| g.requesters.contains(user, groups))
            .filter(|g| matches!(&g.gives, Gives::Write(scope) if scope.allows(action)))
            .collect()
    }
}
