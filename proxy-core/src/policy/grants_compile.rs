//! `grants:` and `agents:` from the file to [`GrantDef`]s, every problem with its path
//! (`grants[1].maxTTL`).
//!
//! A grant names its requesters and approvers (both required; an approver may not be an
//! agent), how many approvals it takes (at least 1, and no more than the approver users
//! when only users are listed), a `maxTTL` (at least 1s; at most 12h for an elevation, 1h
//! for a write) and exactly one of `rule:` (compiled by the rule compiler as
//! `grant:<name>`, without `subjects`: it applies to the requester) or `write:`.

use std::time::Duration;

use super::compile::{Problems, globs, optional_globs, rule};
use super::grants::{
    Gives, GrantDef, MAX_ELEVATION_TTL, MAX_GRANTS, MAX_WRITE_TTL, Subjects, WriteScope,
};
use super::model::{GrantSpec, PolicyFile, SubjectsSpec, WriteSpec};
use super::units;

/// The longest grant name.
const MAX_GRANT_NAME: usize = 63;

pub(super) fn compile(
    file: &PolicyFile,
    p: &mut Problems,
    warnings: &mut Problems,
) -> (Vec<GrantDef>, Subjects) {
    let agents = subjects(&file.agents, "agents", p);
    if file.grants.len() > MAX_GRANTS {
        p.push(("grants".into(), format!("more than {MAX_GRANTS} grants")));
    }
    let mut out = Vec::with_capacity(file.grants.len());
    for (i, spec) in file.grants.iter().enumerate() {
        let at = format!("grants[{i}]");
        if let Some(j) = file.grants[..i].iter().position(|g| g.name == spec.name) {
            p.push((
                format!("{at}.name"),
                format!("`{}` is also the name of grants[{j}]", spec.name),
            ));
        }
        if let Some(g) = grant(spec, &at, &agents, p, warnings) {
            out.push(g);
        }
    }
    (out, agents)
}

fn grant(
    spec: &GrantSpec,
    at: &str,
    agents: &Subjects,
    p: &mut Problems,
    warnings: &mut Problems,
) -> Option<GrantDef> {
    let mut push = |path: &str, msg: String| {
        let full = if path.is_empty() {
            at.to_string()
        } else {
            format!("{at}.{path}")
        };
        p.push((full, msg));
    };
    let name_ok = !spec.name.is_empty()
        && spec.name.len() <= MAX_GRANT_NAME
        && spec.name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')
        });
    if !name_ok {
        push(
            "name",
            format!(
                "`{}` is not a grant name: 1 to {MAX_GRANT_NAME} lower-case letters, digits, '-', '.' or '_' (it is typed on the command line)",
                spec.name
            ),
        );
    }
    let mut sub = Problems::new();
    let requesters = subjects(&spec.requesters, "requesters", &mut sub);
    let approvers = subjects(&spec.approvers, "approvers", &mut sub);
    let auto_approve = subjects(&spec.auto_approve, "autoApprove", &mut sub);
    for (path, msg) in sub {
        push(&path, msg);
    }
    if requesters == Subjects::default() {
        push(
            "requesters",
            "no users or groups: nobody could request it".into(),
        );
    }
    if approvers == Subjects::default() {
        push(
            "approvers",
            "no users or groups: nobody could approve it".into(),
        );
    }
    for (j, u) in approvers.users.iter().enumerate() {
        if agents.users.contains(u) {
            push(
                &format!("approvers.users[{j}]"),
                format!("`{u}` is an agent (agents.users): agents can never approve"),
            );
        }
    }
    for (j, g) in approvers.groups.iter().enumerate() {
        if agents.groups.contains(g) {
            push(
                &format!("approvers.groups[{j}]"),
                format!("`{g}` is an agent group (agents.groups): agents can never approve"),
            );
        }
    }
    let approvals = spec.approvals.unwrap_or(1);
    if approvals == 0 {
        push("approvals", "must be at least 1".into());
    } else if approvers.groups.is_empty()
        && !approvers.users.is_empty()
        && approvals as usize > approvers.users.len()
    {
        push(
            "approvals",
            format!(
                "{approvals} approvals, but only {} approver users are listed",
                approvers.users.len()
            ),
        );
    }
    let max = match (&spec.rule, &spec.write) {
        (Some(_), None) => MAX_ELEVATION_TTL,
        (None, Some(_)) => MAX_WRITE_TTL,
        _ => {
            push(
                "",
                "give exactly one of `rule` (an elevation) or `write`".into(),
            );
            return None;
        }
    };
    let max_ttl = match spec.max_ttl.as_deref().map(units::duration) {
        None => {
            push("maxTTL", format!("required (at most {})", human(max)));
            Duration::ZERO
        }
        Some(Err(e)) => {
            push("maxTTL", e);
            Duration::ZERO
        }
        Some(Ok(d)) if d < Duration::from_secs(1) => {
            push("maxTTL", "must be at least 1s".into());
            d
        }
        Some(Ok(d)) if d > max => {
            let what = if max == MAX_WRITE_TTL {
                "a write"
            } else {
                "an elevation"
            };
            push(
                "maxTTL",
                format!(
                    "{} is longer than {what} may last ({})",
                    human(d),
                    human(max)
                ),
            );
            d
        }
        Some(Ok(d)) => d,
    };
    let gives = if let Some(r) = &spec.rule {
        if r.subjects != SubjectsSpec::default() {
            push(
                "rule.subjects",
                "a grant's rule applies to its requester: leave `subjects` out (`requesters` says who may ask)".into(),
            );
        }
        let mut r = r.clone();
        r.name = format!("grant:{}", spec.name);
        // Replaced by the requester when the elevation is in force.
        r.subjects = SubjectsSpec {
            users: vec![r.name.clone()],
            groups: Vec::new(),
        };
        Gives::Elevation(Box::new(rule(&r, &format!("{at}.rule"), p, warnings)))
    } else {
        let w = spec.write.as_ref()?;
        Gives::Write(write(w, at, p, warnings))
    };
    Some(GrantDef {
        name: spec.name.clone(),
        requesters,
        approvers,
        approvals: approvals.max(1),
        auto_approve,
        max_ttl,
        gives,
    })
}

fn write(w: &WriteSpec, at: &str, p: &mut Problems, warnings: &mut Problems) -> WriteScope {
    let mut push = |path: &str, msg: String| p.push((format!("{at}.write.{path}"), msg));
    if w.actions.is_empty() {
        push(
            "actions",
            "list the actions (evict, delete, restart, scale, cordon, uncordon)".into(),
        );
    }
    let namespaced = w.actions.iter().any(|a| !a.is_node());
    if namespaced && w.namespaces.is_empty() {
        push(
            "namespaces",
            "list the namespaces (names or globs) the pod and workload actions may touch".into(),
        );
    }
    if !namespaced && !w.namespaces.is_empty() {
        warnings.push((
            format!("{at}.write.namespaces"),
            "node actions (cordon, uncordon) are not namespaced: the namespaces are ignored".into(),
        ));
    }
    let namespaces = globs(&w.namespaces, "namespaces", &mut push);
    let names = optional_globs(w.names.as_deref(), "names", &mut push);
    WriteScope {
        actions: w.actions.clone(),
        namespaces,
        names,
    }
}

fn subjects(s: &SubjectsSpec, key: &str, p: &mut Problems) -> Subjects {
    for (kind, list) in [("users", &s.users), ("groups", &s.groups)] {
        for (j, x) in list.iter().enumerate() {
            if x.is_empty() {
                p.push((format!("{key}.{kind}[{j}]"), "empty name".into()));
            }
        }
    }
    Subjects {
        users: s.users.clone(),
        groups: s.groups.clone(),
    }
}

/// `15m`, `1h`, `90s`.
fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}
