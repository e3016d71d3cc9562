//! One tool call from arguments to the text the agent gets: dispatch, then the same
//! finishing for every tool — control characters out, secrets masked, cut to the budget
//! with a truncation line, the recording id appended — then the `mcp` recording and the
//! audit line. A denial is a tool result (`isError`) that says what is allowed.

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject};

use super::args::{self, DescribeArgs, EventsArgs, ExecArgs, GetArgs, LogsArgs, PromArgs};
use super::kube::Refused;
use super::record::CallRecording;
use super::reply::Reply;
use super::text::{fit, sanitize};
use super::writes::{self, IdArgs, RequestArgs};
use super::{Caller, describe, get, prom, stream, tools};
use crate::policy::audit::AuditRecord;
use crate::policy::{MetricsLimits, Reach};
use crate::request::{RequestInfo, Target};
use crate::server::Proxy;

/// The most bytes of the arguments kept in the recording and the audit line.
const MAX_RECORDED_ARGS: usize = 16 * 1024;
/// Room kept in the budget for the truncation and recording lines.
const TRAILER_ROOM: usize = 256;

/// Runs tool `name` for `caller` and returns the finished result.
pub(crate) async fn call(
    proxy: &Arc<Proxy>,
    caller: &Caller,
    name: &str,
    arguments: Option<JsonObject>,
) -> CallToolResult {
    let target = |k: &str| {
        let v = arguments
            .as_ref()
            .and_then(|a| a.get(k))
            .and_then(|v| v.as_str());
        v.filter(|v| v.len() <= args::MAX_NAME_LEN)
            .unwrap_or_default()
            .to_string()
    };
    let (ns, pod) = (target("namespace"), target("pod"));
    let recording = CallRecording::start(proxy, caller, name, (&ns, &pod));
    let args_text = recorded_args(proxy, arguments.as_ref());
    let reach = proxy
        .policy()
        .reach(&caller.identity.user, &caller.identity.groups);
    let budget = proxy.mcp_config().result_budget();
    let metrics = metrics_grant(proxy, caller);
    let writes = write_grants(proxy, caller);
    let offered = tools::list(&reach, metrics.as_deref(), &writes, budget);
    let mut reply = if offered.iter().any(|t| t.name == name) {
        let grant = (&reach, metrics.as_deref());
        dispatch(proxy, caller, grant, name, arguments, budget).await
    } else {
        let names: Vec<&str> = offered.iter().map(|t| t.name.as_ref()).collect();
        Reply::refused(Refused::new(
            "denied",
            format!(
                "kubewitness: tool {name} is not available to you; your tools: [{}]",
                names.join(", ")
            ),
        ))
    };
    if reply.is_error && reply.decision == "denied" {
        reply
            .text
            .push_str(&allowed(&reach, metrics.as_deref(), name));
    }
    let text = finish(proxy, &reply, recording.id(), budget);
    let outcome = recording.finish(&args_text, &text, reply.decision, reply.is_error);
    audit(proxy, caller, name, &args_text, &reply, (&ns, &pod));
    match outcome {
        Ok(()) if reply.is_error => CallToolResult::error(vec![ContentBlock::text(text)]),
        Ok(()) => CallToolResult::success(vec![ContentBlock::text(text)]),
        Err(why) => CallToolResult::error(vec![ContentBlock::text(format!(
            "kubewitness: this call could not be recorded ({why}); its result is withheld because unrecorded calls are not allowed"
        ))]),
    }
}

/// The caller's `metrics:` grant, when the proxy has a Prometheus backend to use it on.
pub(crate) fn metrics_grant(proxy: &Proxy, caller: &Caller) -> Option<Arc<MetricsLimits>> {
    proxy.prometheus()?;
    let id = &caller.identity;
    proxy
        .policy()
        .metrics_grant(&id.user, &id.groups)
        .ok()
        .map(|(_, limits)| limits)
}

/// The write grants the caller may request, when the proxy has a broker to ask.
pub(crate) fn write_grants(proxy: &Proxy, caller: &Caller) -> Vec<String> {
    if proxy.grants().is_none() {
        return Vec::new();
    }
    let id = &caller.identity;
    writes::requestable(&proxy.policy(), &id.user, &id.groups)
}

async fn dispatch(
    proxy: &Arc<Proxy>,
    caller: &Caller,
    (reach, metrics): (&Reach, Option<&MetricsLimits>),
    name: &str,
    arguments: Option<JsonObject>,
    budget: usize,
) -> Reply {
    let invalid = |why: String| Reply::refused(Refused::new("invalid", why));
    match name {
        tools::LOGS => match args::parse::<LogsArgs>(arguments) {
            Ok(a) => stream::logs(proxy, caller, &a, budget).await,
            Err(e) => invalid(e),
        },
        tools::EXEC => match args::parse::<ExecArgs>(arguments) {
            Ok(a) => stream::exec(proxy, caller, &a, budget).await,
            Err(e) => invalid(e),
        },
        tools::EVENTS => match args::parse::<EventsArgs>(arguments) {
            Ok(a) => get::events(proxy, caller, &a).await,
            Err(e) => invalid(e),
        },
        tools::GET => match args::parse::<GetArgs>(arguments) {
            Ok(a) => get::get(proxy, caller, reach, &a).await,
            Err(e) => invalid(e),
        },
        tools::DESCRIBE => match args::parse::<DescribeArgs>(arguments) {
            Ok(a) => describe::describe(proxy, caller, &a).await,
            Err(e) => invalid(e),
        },
        tools::PROM => match (args::parse::<PromArgs>(arguments), metrics) {
            (Ok(a), Some(limits)) => prom::query(proxy, caller, &a, limits).await,
            (Ok(_), None) => Reply::refused(Refused::new(
                "denied",
                "kubewitness: no rule grants you metrics",
            )),
            (Err(e), _) => invalid(e),
        },
        writes::REQUEST => match args::parse::<RequestArgs>(arguments) {
            Ok(a) => writes::request(proxy, caller, &a).await,
            Err(e) => invalid(e),
        },
        writes::STATUS => match args::parse::<IdArgs>(arguments) {
            Ok(a) => writes::status(proxy, caller, &a).await,
            Err(e) => invalid(e),
        },
        writes::EXECUTE => match args::parse::<IdArgs>(arguments) {
            Ok(a) => writes::execute(proxy, caller, &a).await,
            Err(e) => invalid(e),
        },
        other => invalid(format!("kubewitness: unknown tool {other}")),
    }
}

/// What the caller's policy does allow for `tool`, appended to a denial.
fn allowed(reach: &Reach, metrics: Option<&MetricsLimits>, tool: &str) -> String {
    let namespaces = format!("namespaces [{}]", reach.namespaces.join(", "));
    match tool {
        tools::PROM => prom::allowed(metrics),
        writes::REQUEST | writes::STATUS | writes::EXECUTE => String::new(),
        tools::EXEC => {
            format!(
                "\nYour policy allows exec only of these commands {}.",
                tools::exec_allowed(reach)
            )
        }
        tools::LOGS => {
            let ns: Vec<String> = reach.logs.iter().map(|(ns, _)| ns.join(", ")).collect();
            format!(
                "\nYour policy allows logs in namespaces [{}].",
                ns.join(", ")
            )
        }
        _ => format!(
            "\nYour policy allows reading [{}] in {namespaces}.",
            reach.read.join(", ")
        ),
    }
}

/// The text the agent gets: sanitized, redacted, within the budget, with the recording id.
fn finish(proxy: &Proxy, reply: &Reply, id: Option<&str>, budget: usize) -> String {
    let mut text = sanitize(&reply.text);
    if let Some(r) = proxy.redactor() {
        text = String::from_utf8_lossy(&r.redact_all(text.as_bytes()).0).into_owned();
    }
    let total = reply.total.max(text.len() as u64);
    let mut out = fit(
        &text,
        budget.saturating_sub(TRAILER_ROOM),
        reply.keep,
        total,
    );
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "[recording: {}",
        id.unwrap_or("none (recording is off)")
    ));
    if let Some(linked) = &reply.linked {
        out.push_str(&format!("; session recording: {linked}"));
    }
    out.push(']');
    out
}

/// The arguments as recorded and audited: JSON, secrets masked, bounded.
fn recorded_args(proxy: &Proxy, arguments: Option<&JsonObject>) -> String {
    let mut text =
        serde_json::to_string(&arguments.cloned().unwrap_or_default()).unwrap_or_default();
    if let Some(r) = proxy.redactor() {
        text = String::from_utf8_lossy(&r.redact_all(text.as_bytes()).0).into_owned();
    }
    if text.len() > MAX_RECORDED_ARGS {
        let mut end = MAX_RECORDED_ARGS;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("…(cut)");
    }
    text
}

/// One audit line for the call: the tool, its arguments, the outcome.
fn audit(
    proxy: &Proxy,
    caller: &Caller,
    tool: &str,
    args: &str,
    reply: &Reply,
    target: (&str, &str),
) {
    let info = RequestInfo {
        verb: "mcp".into(),
        target: Target::NonResource(format!("mcp/{tool}")),
    };
    let mut rec = AuditRecord::new(&caller.identity.user, &caller.identity.groups, &info);
    rec.argv = Some(vec![args.to_string()]);
    rec.namespace = (!target.0.is_empty()).then(|| target.0.to_string());
    rec.pod = (!target.1.is_empty()).then(|| target.1.to_string());
    let reason = if reply.is_error {
        format!(
            "{}: {}",
            reply.decision,
            reply.text.lines().next().unwrap_or_default()
        )
    } else {
        reply.decision.to_string()
    };
    let rec = rec.decided(!reply.is_error, reply.rule.clone(), reason);
    proxy.access().audit().record(&rec);
}
