//! From the file's [`PolicyFile`] to the checked [`Policy`]: every problem is collected with
//! its path (`rules[2].exec.commands[0][1]`), so one `policy check` run lists them all.

use std::sync::Arc;
use std::time::Duration;

use super::glob::Glob;
use super::model::{ExecSpec, PolicyFile, RuleSpec};
use super::selector::Selector;
use super::units;
use super::{
    ArgPattern, ExecRule, GlobalLimits, Limits, LogLimits, Policy, RateLimit, ResourceRef, Rule,
    SessionLimits,
};

/// The `apiVersion` this release reads.
pub const API_VERSION: &str = "kubewitness/v1";
/// The `kind` of a policy file.
pub const KIND: &str = "Policy";
/// The most rules a policy may have.
pub const MAX_RULES: usize = 1024;
/// The default global limit on concurrent streams (exec, attach, logs, port-forward, watch).
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u64 = 256;
/// Without `global.maxConcurrentStreamsPerIdentity`, one identity may hold at most
/// `maxConcurrentStreams / DEFAULT_STREAM_SHARE` streams (at least 1).
pub const DEFAULT_STREAM_SHARE: u64 = 4;
/// How long a log stream may run when the rule's `logs.maxDuration` is not set.
pub const DEFAULT_LOG_MAX_DURATION: Duration = Duration::from_secs(4 * 3600);
/// How long a log stream may stay silent when the rule's `logs.idleTimeout` is not set.
pub const DEFAULT_LOG_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub(super) type Problems = Vec<(String, String)>;

pub(crate) fn compile(file: &PolicyFile) -> Result<Policy, Problems> {
    let mut p = Problems::new();
    if file.api_version != API_VERSION {
        p.push((
            "apiVersion".into(),
            format!("must be `{API_VERSION}`, found `{}`", file.api_version),
        ));
    }
    if file.kind != KIND {
        p.push((
            "kind".into(),
            format!("must be `{KIND}`, found `{}`", file.kind),
        ));
    }
    if file.rules.len() > MAX_RULES {
        p.push(("rules".into(), format!("more than {MAX_RULES} rules")));
    }
    let max_streams = match file.global.max_concurrent_streams {
        Some(0) => {
            p.push((
                "global.maxConcurrentStreams".into(),
                "must be at least 1".into(),
            ));
            0
        }
        Some(n) => n,
        None => DEFAULT_MAX_CONCURRENT_STREAMS,
    };
    let per_identity = match file.global.max_concurrent_streams_per_identity {
        Some(0) => {
            p.push((
                "global.maxConcurrentStreamsPerIdentity".into(),
                "must be at least 1".into(),
            ));
            0
        }
        Some(n) => n.min(max_streams),
        None => (max_streams / DEFAULT_STREAM_SHARE).max(1),
    };
    let mut warnings = Problems::new();
    let mut rules = Vec::with_capacity(file.rules.len());
    for (i, spec) in file.rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        if let Some(j) = file.rules[..i].iter().position(|r| r.name == spec.name) {
            p.push((
                format!("{at}.name"),
                format!("`{}` is also the name of rules[{j}]", spec.name),
            ));
        }
        rules.push(rule(spec, &at, &mut p, &mut warnings));
    }
    if p.is_empty() {
        Ok(Policy {
            rules,
            global: GlobalLimits {
                max_concurrent_streams: max_streams,
                max_concurrent_streams_per_identity: per_identity,
            },
            warnings,
            // `grants:` and `agents:`: `super::grants_compile`, after the rules.
            grants: Vec::new(),
            agents: super::Subjects::default(),
        })
    } else {
        Err(p)
    }
}

pub(super) fn rule(spec: &RuleSpec, at: &str, p: &mut Problems, warnings: &mut Problems) -> Rule {
    let mut push = |path: &str, msg: String| {
        let full = if path.is_empty() {
            at.to_string()
        } else {
            format!("{at}.{path}")
        };
        p.push((full, msg));
    };
    if spec.name.is_empty() {
        push(
            "name",
            "every rule needs a name (it appears in decisions and audit)".into(),
        );
    }
    if spec.subjects.users.is_empty() && spec.subjects.groups.is_empty() {
        push(
            "subjects",
            "no users or groups: the rule would apply to nobody".into(),
        );
    }
    for (kind, list) in [
        ("users", &spec.subjects.users),
        ("groups", &spec.subjects.groups),
    ] {
        for (j, s) in list.iter().enumerate() {
            if s.is_empty() {
                push(&format!("subjects.{kind}[{j}]"), "empty name".into());
            }
        }
    }
    // A metrics-only rule names its namespaces under `metrics:`.
    if spec.namespaces.is_empty() && !metrics_only(spec) {
        push(
            "namespaces",
            "list the namespaces (names or globs, \"*\" for all)".into(),
        );
    }
    let namespaces = globs(&spec.namespaces, "namespaces", &mut push);
    let pods = optional_globs(spec.pods.as_deref(), "pods", &mut push);
    let mut selector = |s: &Option<super::model::SelectorSpec>, key: &str| {
        s.as_ref().map(|s| {
            let mut sub = Problems::new();
            let sel = Selector::compile(s, &mut sub);
            for (path, msg) in sub {
                let path = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{key}.{path}")
                };
                push(&path, msg);
            }
            sel
        })
    };
    let namespace_selector = selector(&spec.namespace_selector, "namespaceSelector");
    let pod_selector = selector(&spec.pod_selector, "podSelector");
    let mut read = Vec::new();
    for (j, r) in spec.read.iter().enumerate() {
        match ResourceRef::parse(r) {
            Ok(rr) => read.push(rr),
            Err(e) => push(&format!("read[{j}]"), e),
        }
    }
    let logs = spec.logs.as_ref().map(|l| LogLimits {
        max_tail_lines: l.max_tail_lines,
        max_since_seconds: match l.max_since_seconds {
            Some(0) => {
                push("logs.maxSinceSeconds", "must be at least 1".into());
                None
            }
            other => other,
        },
        max_bytes: l
            .max_bytes
            .as_ref()
            .and_then(|q| units::bytes(q).map_err(|e| push("logs.maxBytes", e)).ok()),
        max_duration: duration_at(&l.max_duration, "logs.maxDuration", &mut push)
            .or(Some(DEFAULT_LOG_MAX_DURATION)),
        idle_timeout: duration_at(&l.idle_timeout, "logs.idleTimeout", &mut push)
            .or(Some(DEFAULT_LOG_IDLE_TIMEOUT)),
    });
    let exec = spec.exec.as_ref().map(|e| exec(e, &mut push));
    let metrics = spec
        .metrics
        .as_ref()
        .map(|m| super::metrics::compile(m, &mut push));
    let rate = spec.rate_limit.as_ref().map(|r| {
        let rps = r.requests_per_second.unwrap_or(f64::INFINITY);
        if r.requests_per_second.is_some() && !(rps.is_finite() && rps > 0.0) {
            push(
                "rateLimit.requestsPerSecond",
                "must be a positive number".into(),
            );
        }
        if r.burst == Some(0) {
            push("rateLimit.burst", "must be at least 1".into());
        }
        if r.max_concurrent_streams == Some(0) {
            push(
                "rateLimit.maxConcurrentStreams",
                "must be at least 1".into(),
            );
        }
        if r.burst.is_some() && r.requests_per_second.is_none() {
            push("rateLimit.burst", "needs requestsPerSecond".into());
        }
        RateLimit {
            requests_per_second: r.requests_per_second,
            burst: r.burst.unwrap_or_else(|| rps.ceil().clamp(1.0, 1e6) as u64),
            max_concurrent_streams: r.max_concurrent_streams,
        }
    });
    if spec.port_forward && spec.redact != Some(false) {
        warnings.push((
            format!("{at}.portForward"),
            "port-forward bytes are recorded but never redacted, so only a rule with `redact: false` allows it: this rule's port-forward requests are denied".into(),
        ));
    }
    let ephemeral = match super::ephemeral::EphemeralRule::compile(&spec.ephemeral_containers) {
        Ok(e) => e,
        Err(why) => {
            push("ephemeralContainers.images", why);
            None
        }
    };
    if spec.ephemeral_containers == super::ephemeral::EphemeralSpec::Flag(true) {
        warnings.push((
            format!("{at}.ephemeralContainers"),
            "`true` lists no image, so no ephemeral container is allowed: write `{images: [busybox:1.36]}`".into(),
        ));
    }
    if spec.read.is_empty()
        && spec.logs.is_none()
        && spec.exec.is_none()
        && !spec.attach
        && !spec.port_forward
        && ephemeral.is_none()
        && spec.metrics.is_none()
    {
        push(
            "",
            "the rule allows nothing (no read, logs, exec, attach or metrics)".into(),
        );
    }
    let session = exec
        .as_ref()
        .map(|e: &ExecRule| e.limits)
        .unwrap_or_default();
    Rule {
        name: spec.name.clone(),
        users: spec.subjects.users.clone(),
        groups: spec.subjects.groups.clone(),
        namespaces,
        namespace_selector,
        pods,
        pod_selector,
        read,
        exec,
        attach: spec.attach,
        port_forward: spec.port_forward,
        ephemeral_containers: ephemeral.is_some(),
        limits: Arc::new(Limits {
            logs: logs.unwrap_or_default(),
            session,
            rate,
            unredacted: spec.redact == Some(false),
            ephemeral,
        }),
        logs: spec.logs.is_some(),
        metrics,
    }
}

/// Whether the rule grants nothing but `metrics:`.
fn metrics_only(spec: &RuleSpec) -> bool {
    spec.metrics.is_some()
        && spec.read.is_empty()
        && spec.logs.is_none()
        && spec.exec.is_none()
        && !spec.attach
        && !spec.port_forward
        && spec.ephemeral_containers == super::ephemeral::EphemeralSpec::Flag(false)
}

pub(super) fn globs(list: &[String], key: &str, push: &mut impl FnMut(&str, String)) -> Vec<Glob> {
    let mut out = Vec::new();
    for (j, g) in list.iter().enumerate() {
        match Glob::new(g) {
            Ok(g) => out.push(g),
            Err(e) => push(&format!("{key}[{j}]"), e),
        }
    }
    out
}

/// An optional list of globs at `key`: absent means every name (`*`); present but empty is
/// a problem (it would match nothing, which is surely not what was meant).
pub(super) fn optional_globs(
    list: Option<&[String]>,
    key: &str,
    push: &mut impl FnMut(&str, String),
) -> Vec<Glob> {
    match list {
        Some([]) => {
            push(key, "empty: omit it or use [\"*\"]".into());
            Vec::new()
        }
        Some(list) => globs(list, key, push),
        None => vec![Glob::new("*").expect("valid glob")],
    }
}

/// A duration setting at `key`, its problem pushed when it does not parse.
fn duration_at(
    v: &Option<String>,
    key: &str,
    push: &mut impl FnMut(&str, String),
) -> Option<Duration> {
    let s = v.as_ref()?;
    units::duration(s).map_err(|m| push(key, m)).ok()
}

fn exec(e: &ExecSpec, push: &mut impl FnMut(&str, String)) -> ExecRule {
    if e.commands.is_empty() {
        push(
            "exec.commands",
            "no commands: list argv patterns (or omit `exec` to deny exec)".into(),
        );
    }
    let mut commands = Vec::new();
    for (j, argv) in e.commands.iter().enumerate() {
        let at = format!("exec.commands[{j}]");
        if argv.is_empty() {
            push(&at, "an empty pattern matches no command".into());
            continue;
        }
        let mut pattern = Vec::with_capacity(argv.len());
        for (k, a) in argv.iter().enumerate() {
            pattern.push(match a.as_str() {
                "*" => ArgPattern::One,
                "**" if k + 1 == argv.len() => ArgPattern::Rest,
                "**" => {
                    push(
                        &format!("{at}[{k}]"),
                        "`**` must be the last element".into(),
                    );
                    ArgPattern::Rest
                }
                lit => ArgPattern::Literal(lit.to_string()),
            });
        }
        commands.push(pattern);
    }
    let max_duration = duration_at(&e.max_duration, "exec.maxDuration", push);
    let idle_timeout = duration_at(&e.idle_timeout, "exec.idleTimeout", push);
    let max_output_bytes = e.max_output_bytes.as_ref().and_then(|q| {
        units::bytes(q)
            .map_err(|m| push("exec.maxOutputBytes", m))
            .ok()
    });
    ExecRule {
        commands,
        stdin: e.stdin,
        tty: e.tty,
        limits: SessionLimits {
            max_output_bytes,
            max_duration,
            idle_timeout,
        },
    }
}
