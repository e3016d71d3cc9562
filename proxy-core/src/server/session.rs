//! What is known about a session when it starts, and the one place its pipeline is built.
//!
//! Every concern that watches or shapes session bytes (policy limits, redaction, recording)
//! adds its filters in [`pipeline`], so exec, attach and logs get the same treatment.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::auth::Identity;
use crate::channel::StreamOptions;
use crate::pipeline::{Direction, Filter, Pipeline};
use crate::record::{RecordFilter, SessionMeta};
use crate::redaction::RedactFilter;

use super::Proxy;

/// The kind of session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// `pods/exec`.
    Exec,
    /// `pods/attach`.
    Attach,
    /// `pods/log`.
    Logs,
    /// One forwarded TCP connection of `pods/portforward`.
    PortForward,
}

impl SessionKind {
    /// `exec`, `attach`, `logs` or `portforward`.
    pub fn name(self) -> &'static str {
        match self {
            SessionKind::Exec => "exec",
            SessionKind::Attach => "attach",
            SessionKind::Logs => "logs",
            SessionKind::PortForward => "portforward",
        }
    }
}

/// Facts about a session, fixed when it starts.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// exec, attach or logs.
    pub kind: SessionKind,
    /// The authenticated caller.
    pub identity: Identity,
    /// The namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container, if named.
    pub container: Option<String>,
    /// The argv (exec only).
    pub command: Vec<String>,
    /// The stream flags (exec/attach).
    pub options: StreamOptions,
    /// The client's transport (`websocket`, `spdy`, `http`).
    pub client_transport: &'static str,
    /// The upstream transport.
    pub upstream_transport: &'static str,
    /// The client's address.
    pub remote: SocketAddr,
    /// The policy limits the session runs under.
    pub limits: Arc<crate::policy::Limits>,
    /// The pod port (port-forward only).
    pub port: Option<u16>,
    /// The `Audit-ID` kubewitness sent upstream for the session's request, so the API
    /// server's audit event and the recording can be joined (logged with the recording id).
    pub audit_id: String,
}

/// An embedder's session filters: asked for a fresh set when each session starts.
///
/// Added with [`Builder::session_filters`](super::Builder::session_filters). The filters
/// run after redaction and the policy limits (so they see what the client sees, secrets
/// already masked) and before the recording filter (so what they pass on is what is
/// recorded), in the order they were added, toward the server and toward the client.
///
/// # The fail-closed contract
///
/// A filter stands in the session's data path, so what it does is what the client and the
/// server get (see [`Filter`](crate::pipeline::Filter)):
///
/// - Whatever it does not push to `out` is gone; it must never drop bytes it means to pass.
/// - Returning [`EndSession`](crate::pipeline::EndSession) ends the session: the client
///   gets that `Status` on its error channel (kubectl exits non-zero), the recording is
///   sealed with it. That is how a filter refuses what it cannot vouch for: it ends the
///   session rather than let unchecked bytes through.
/// - A filter that panics loses the session: the client gets a `Failure`, never a silent
///   success.
/// - [`Filter::ready`] futures must resolve in bounded time.
///
/// Port-forward connections get these filters too (raw TCP bytes, unredacted).
///
/// A closure returning the filters works:
///
/// ```
/// use proxy_core::pipeline::{Direction, Filter};
/// use proxy_core::server::{SessionInfo, SessionFilters};
///
/// fn none(_: &SessionInfo) -> Vec<(Direction, Box<dyn Filter>)> {
///     Vec::new()
/// }
/// fn takes(_: impl SessionFilters) {}
/// takes(none);
/// ```
pub trait SessionFilters: Send + Sync {
    /// The filters for the session `info` describes, each with its direction.
    fn filters(&self, info: &SessionInfo) -> Vec<(Direction, Box<dyn Filter>)>;
}

impl<F> SessionFilters for F
where
    F: Fn(&SessionInfo) -> Vec<(Direction, Box<dyn Filter>)> + Send + Sync,
{
    fn filters(&self, info: &SessionInfo) -> Vec<(Direction, Box<dyn Filter>)> {
        self(info)
    }
}

/// The embedders' filter sources, in the order added.
pub(super) type FilterList = Vec<Arc<dyn SessionFilters>>;

/// Builds the pipeline for a session.
pub(super) fn pipeline(proxy: &Proxy, info: &SessionInfo) -> Pipeline {
    recorded_pipeline(proxy, info).0
}

/// Builds the pipeline for a session and returns it with the session's recording id (when
/// sessions are recorded).
pub(crate) fn recorded_pipeline(proxy: &Proxy, info: &SessionInfo) -> (Pipeline, Option<String>) {
    let mut pipeline = Pipeline::new();
    let recording = proxy
        .recorder()
        .map(|r| r.start(record_meta(proxy, info), pipeline.end_handle()));
    if let Some(handle) = &recording {
        tracing::info!(
            recording = handle.session_id(),
            audit_id = %info.audit_id,
            kind = info.kind.name(),
            "session recorded"
        );
    }
    let id = recording.as_ref().map(|h| h.session_id().to_string());
    // Toward the client, in order: redaction first (nothing after it sees a secret), then the
    // policy limits (the output cap counts what the client receives), then recording LAST in
    // both directions: it records what the client saw and what reached the server, and lets
    // nothing through that it has not queued (fail closed).
    // Port-forward is never redacted (arbitrary protocols; only `redact: false` rules allow
    // it, and its handler refuses anything else).
    if !info.limits.unredacted
        && info.kind != SessionKind::PortForward
        && let Some(redactor) = proxy.redactor()
    {
        pipeline.filter(
            Direction::ToClient,
            Box::new(RedactFilter::new(redactor.clone(), recording.clone())),
        );
    }
    crate::policy::filters::install(&mut pipeline, &info.limits.session);
    // The embedder's filters: after what masks and limits, before what records.
    for source in &proxy.filters {
        for (dir, filter) in source.filters(info) {
            pipeline.filter(dir, filter);
        }
    }
    if let Some(handle) = recording {
        pipeline.filter(
            Direction::ToServer,
            Box::new(RecordFilter::new(handle.clone(), false)),
        );
        pipeline.filter(
            Direction::ToClient,
            Box::new(RecordFilter::new(handle, true)),
        );
    }
    (pipeline, id)
}

/// The argv as recorded: each argument masked like output, unless the session is unredacted
/// (a secret typed on the command line must not outlive the session in the recording).
fn redacted_argv(proxy: &Proxy, info: &SessionInfo) -> Vec<String> {
    match proxy.redactor() {
        Some(r) if !info.limits.unredacted => crate::redaction::mask_argv(r, &info.command),
        _ => info.command.clone(),
    }
}

/// The recorded start metadata of a session (time and signer are filled in by the recorder).
/// A session that is the whole of its request is named by the request's `Audit-ID`, so the
/// API server's audit events and the recording join on one id; the forwarded connections of
/// one port-forward request share its id, so each gets a new one.
fn record_meta(proxy: &Proxy, info: &SessionInfo) -> SessionMeta {
    let session = match info.kind {
        SessionKind::PortForward => String::new(),
        _ => info.audit_id.clone(),
    };
    SessionMeta {
        session,
        kind: info.kind.name().into(),
        user: info.identity.user.clone(),
        uid: info.identity.uid.clone(),
        groups: info.identity.groups.clone(),
        cluster: proxy.upstream.url().to_string(),
        namespace: info.namespace.clone(),
        pod: info.pod.clone(),
        container: info.container.clone(),
        argv: redacted_argv(proxy, info),
        tty: info.options.tty,
        stdin: info.options.stdin,
        protocol: format!("{}/{}", info.client_transport, info.upstream_transport),
        client_addr: info.remote.to_string(),
        port: info.port,
        ..Default::default()
    }
}
