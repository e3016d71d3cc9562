//! `k8s_get_logs` and `k8s_exec_readonly`: the same session code as kubectl's. A log body
//! or an upstream exec stream is joined to an in-process client through the session
//! pipeline built by `server::session` (redaction, the policy's caps and timers, recording),
//! so each call also leaves its usual `logs`/`exec` recording, whose id the result names.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use super::args::{ExecArgs, LogsArgs};
use super::kube::{Refused, decide, get_parts, upstream_error};
use super::text::Keep;
use super::{Caller, Reply};
use crate::access::Grant;
use crate::channel::{StreamOptions, url_pairs};
use crate::peer::Peer;
use crate::request::percent_encode;
use crate::server::logstream;
use crate::server::session::recorded_pipeline;
use crate::server::{Proxy, SessionGuard, SessionInfo, SessionKind};
use crate::upstream::OpenError;

/// `k8s_get_logs`.
pub(crate) async fn logs(
    proxy: &Arc<Proxy>,
    caller: &Caller,
    a: &LogsArgs,
    budget: usize,
) -> Reply {
    let mut query = Vec::new();
    if let Some(c) = &a.container {
        query.push(format!("container={c}"));
    }
    if let Some(n) = a.tail_lines {
        query.push(format!("tailLines={n}"));
    }
    if let Some(s) = a.since_seconds {
        query.push(format!("sinceSeconds={s}"));
    }
    if a.previous {
        query.push("previous=true".into());
    }
    let query = query.join("&");
    let path = format!("/api/v1/namespaces/{}/pods/{}/log", a.namespace, a.pod);
    let grant = match decide(proxy, caller, &http::Method::GET, &path, &query).await {
        Ok((grant, _)) => grant,
        Err(r) => return Reply::refused(r),
    };
    let clamped = grant.log_query.clone().unwrap_or_default();
    let note = clamp_note(a.tail_lines, &clamped);
    let parts = match get_parts(&path, &clamped) {
        Ok(p) => p,
        Err(r) => return Reply::refused(r),
    };
    let origin = caller.origin();
    let res = match proxy
        .upstream()
        .forward(&parts, Bytes::new(), &caller.identity, &origin)
        .await
    {
        Ok(res) => res,
        Err(e) => {
            return Reply::refused(Refused::new("upstreamError", format!("kubewitness: {e}")));
        }
    };
    if !res.status().is_success() {
        let status = res.status();
        let body = http_body_util::Limited::new(res.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Reply::refused(Refused::new("upstreamError", upstream_error(status, &body)));
    }
    let mut session = session_info(
        caller,
        SessionKind::Logs,
        &a.namespace,
        &a.pod,
        a.container.clone(),
        Vec::new(),
        &grant,
    );
    session.audit_id = origin.audit_id;
    let server = logstream::source(res.into_body());
    let run = run_session(proxy, &session, grant, server, Keep::Tail, budget).await;
    let mut reply = run.into_reply(Keep::Tail);
    reply.text = format!("{note}{}", reply.text);
    reply
}

/// Says how the policy clamped `tail_lines`, when it did.
fn clamp_note(asked: Option<u64>, clamped: &str) -> String {
    let sent = url_pairs(clamped)
        .find(|(k, _)| k == "tailLines")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    match (asked, sent) {
        (Some(a), Some(s)) if s < a => format!("[tail_lines clamped to {s} by your policy]\n"),
        (None, Some(s)) => format!("[tail_lines set to {s} by your policy]\n"),
        _ => String::new(),
    }
}

/// `k8s_exec_readonly`: never stdin, never a terminal; the policy's argv allowlist decides.
pub(crate) async fn exec(
    proxy: &Arc<Proxy>,
    caller: &Caller,
    a: &ExecArgs,
    budget: usize,
) -> Reply {
    let mut query: Vec<String> = a
        .command
        .iter()
        .map(|c| format!("command={}", percent_encode(c)))
        .collect();
    if let Some(c) = &a.container {
        query.push(format!("container={c}"));
    }
    query.push("stdout=true&stderr=true".into());
    let query = query.join("&");
    let path = format!("/api/v1/namespaces/{}/pods/{}/exec", a.namespace, a.pod);
    let (grant, stream) = match decide(proxy, caller, &http::Method::POST, &path, &query).await {
        Ok((grant, Some(stream))) if !stream.options.stdin && !stream.options.tty => {
            (grant, stream)
        }
        Ok(_) => {
            return Reply::refused(Refused::new(
                "invalid",
                "kubewitness: not an exec without stdin and terminal",
            ));
        }
        Err(r) => return Reply::refused(r),
    };
    let origin = caller.origin();
    let opened = match proxy
        .upstream()
        .open_stream(&stream, &caller.identity, &origin)
        .await
    {
        Ok(o) => o,
        Err(OpenError::Refused { status, body, .. }) => {
            return Reply::refused(Refused::new("upstreamError", upstream_error(status, &body)));
        }
        Err(OpenError::Unreachable(why)) => {
            let why = format!("kubewitness: the API server is unreachable: {why}");
            return Reply::refused(Refused::new("upstreamError", why));
        }
        Err(OpenError::Failed(why)) => {
            let why = format!("kubewitness: could not open the exec stream upstream: {why}");
            return Reply::refused(Refused::new("upstreamError", why));
        }
    };
    let mut session = session_info(
        caller,
        SessionKind::Exec,
        &a.namespace,
        &a.pod,
        stream.container.clone(),
        stream.command.clone(),
        &grant,
    );
    session.options = stream.options;
    session.upstream_transport = opened.transport;
    session.audit_id = origin.audit_id;
    let run = run_session(proxy, &session, grant, opened.peer, Keep::Head, budget).await;
    run.into_reply(Keep::Head)
}

/// The session of one call; the caller sets `audit_id` to the one its upstream request carried.
fn session_info(
    caller: &Caller,
    kind: SessionKind,
    namespace: &str,
    pod: &str,
    container: Option<String>,
    command: Vec<String>,
    grant: &Grant,
) -> SessionInfo {
    SessionInfo {
        kind,
        identity: caller.identity.clone(),
        namespace: namespace.to_string(),
        pod: pod.to_string(),
        container,
        command,
        options: StreamOptions {
            stdout: true,
            stderr: kind == SessionKind::Exec,
            ..Default::default()
        },
        client_transport: "mcp",
        upstream_transport: "http",
        remote: caller.remote,
        audit_id: String::new(),
        limits: grant.limits.clone(),
        port: None,
    }
}

/// What a session's client received.
struct Run {
    kept: BytesMut,
    total: u64,
    /// The session's final status message when it did not succeed.
    failure: Option<String>,
    exit_code: Option<u8>,
    recording: Option<String>,
    rule: Option<String>,
}

async fn run_session(
    proxy: &Arc<Proxy>,
    session: &SessionInfo,
    grant: Grant,
    server: Peer,
    keep: Keep,
    budget: usize,
) -> Run {
    let (pipeline, recording) = recorded_pipeline(proxy, session);
    let (client, body) = logstream::sink();
    let guard = SessionGuard::new(proxy);
    let ran = tokio::spawn(async move {
        let _guard = guard;
        let _permit = grant.permit;
        pipeline.run(client, server).await
    });
    let (kept, total) = collect(body, keep, budget).await;
    let end = ran.await.ok();
    let failure = match &end {
        Some(end) if end.status.is_success() => None,
        Some(end) => Some(end.status.message.clone()),
        None => Some("the session task failed".into()),
    };
    Run {
        kept,
        total,
        failure,
        exit_code: end.as_ref().and_then(|e| e.status.exit_code_value()),
        recording,
        rule: grant.rule,
    }
}

/// Reads a session body, keeping at most `budget + 1` bytes of the end `keep` names.
async fn collect(
    mut body: crate::server::ResponseBody,
    keep: Keep,
    budget: usize,
) -> (BytesMut, u64) {
    let mut kept = BytesMut::new();
    let mut total = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len() as u64;
        match keep {
            Keep::Head => {
                let room = (budget + 1).saturating_sub(kept.len());
                kept.extend_from_slice(&data[..data.len().min(room)]);
            }
            Keep::Tail => {
                kept.extend_from_slice(&data);
                if kept.len() > budget + 1 {
                    let _ = kept.split_to(kept.len() - (budget + 1));
                }
            }
        }
    }
    (kept, total)
}

impl Run {
    fn into_reply(self, keep: Keep) -> Reply {
        let mut text = String::from_utf8_lossy(&self.kept).into_owned();
        match (&self.failure, self.exit_code) {
            (None, _) => {}
            (Some(_), Some(code)) => text.push_str(&format!("\n[exit code {code}]")),
            (Some(why), None) => text.push_str(&format!("\n[session ended: {why}]")),
        }
        let mut reply = Reply::text(text, self.rule);
        reply.keep = keep;
        reply.total = self.total;
        reply.linked = self.recording;
        reply
    }
}
