//! `k8s_describe_pod`: what an on-call engineer reads first — phase, conditions, each
//! container's state with its last termination (reason and exit code: `OOMKilled`),
//! restarts, and the pod's recent events. Two decided GETs: the pod, then its events (an
//! events denial is stated, not fatal).

use std::fmt::Write;

use serde_json::Value;

use super::args::DescribeArgs;
use super::get::list_query;
use super::kube::get_json;
use super::table::{event_row, items, last_seen, render, str_of};
use super::{Caller, Reply};
use crate::server::Proxy;

/// Events shown at most.
const MAX_EVENTS: u64 = 20;

/// `k8s_describe_pod`.
pub(crate) async fn describe(proxy: &Proxy, caller: &Caller, a: &DescribeArgs) -> Reply {
    let path = format!("/api/v1/namespaces/{}/pods/{}", a.namespace, a.pod);
    let (pod, rule) = match get_json(proxy, caller, &path, "").await {
        Ok(ok) => ok,
        Err(r) => return Reply::refused(r),
    };
    let mut out = pod_text(&pod);
    let fields = format!("involvedObject.name={}", a.pod);
    let events_path = format!("/api/v1/namespaces/{}/events", a.namespace);
    let query = list_query(None, Some(&fields), Some(MAX_EVENTS));
    out.push_str("Events:\n");
    match get_json(proxy, caller, &events_path, &query).await {
        Ok((list, _)) => {
            let mut events = items(&list);
            events.sort_by_key(|e| last_seen(e));
            let rows: Vec<Vec<String>> = events.iter().map(|e| event_row(e)).collect();
            out.push_str(&render(
                &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
                &rows,
                &list,
            ));
        }
        Err(r) => {
            let _ = writeln!(out, "  (not shown: {})", r.text);
        }
    }
    Reply::text(out, rule)
}

fn pod_text(pod: &Value) -> String {
    let mut out = String::new();
    let meta = &pod["metadata"];
    let status = &pod["status"];
    let _ = writeln!(out, "Name:       {}", str_of(&meta["name"]));
    let _ = writeln!(out, "Namespace:  {}", str_of(&meta["namespace"]));
    let _ = writeln!(out, "Node:       {}", str_of(&pod["spec"]["nodeName"]));
    let _ = writeln!(out, "Phase:      {}", str_of(&status["phase"]));
    if let Some(reason) = status["reason"].as_str() {
        let _ = writeln!(out, "Reason:     {reason} {}", str_of(&status["message"]));
    }
    out.push_str("Conditions:\n");
    for c in status["conditions"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  {:<16} {}", str_of(&c["type"]), str_of(&c["status"]));
    }
    out.push_str("Containers:\n");
    let statuses = status["containerStatuses"].as_array().into_iter().flatten();
    let init = status["initContainerStatuses"]
        .as_array()
        .into_iter()
        .flatten();
    for c in init.chain(statuses) {
        container_text(&mut out, c);
    }
    out
}

fn container_text(out: &mut String, c: &Value) {
    let _ = writeln!(out, "  {}:", str_of(&c["name"]));
    let _ = writeln!(out, "    Image:         {}", str_of(&c["image"]));
    let _ = writeln!(out, "    State:         {}", state_text(&c["state"]));
    if c["lastState"].as_object().is_some_and(|m| !m.is_empty()) {
        let _ = writeln!(out, "    Last State:    {}", state_text(&c["lastState"]));
    }
    let _ = writeln!(
        out,
        "    Ready:         {}",
        c["ready"].as_bool().unwrap_or(false)
    );
    let _ = writeln!(
        out,
        "    Restart Count: {}",
        c["restartCount"].as_u64().unwrap_or(0)
    );
}

/// `Running (since …)`, `Waiting: CrashLoopBackOff`, `Terminated: OOMKilled, exit code 137`.
fn state_text(state: &Value) -> String {
    if let Some(r) = state.get("running") {
        return format!("Running (started {})", str_of(&r["startedAt"]));
    }
    if let Some(w) = state.get("waiting") {
        return format!(
            "Waiting: {} {}",
            str_of(&w["reason"]),
            str_of(&w["message"])
        )
        .trim_end()
        .to_string();
    }
    if let Some(t) = state.get("terminated") {
        return format!(
            "Terminated: {}, exit code {} (finished {})",
            str_of(&t["reason"]),
            t["exitCode"].as_i64().unwrap_or(-1),
            str_of(&t["finishedAt"])
        );
    }
    "unknown".into()
}
