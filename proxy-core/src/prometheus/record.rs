//! Every gateway request is recorded as a session of kind `metrics` in the signed
//! recording format, so `kubewitness verify` checks it like an exec session.
//!
//! The session holds two streams: channel 0 (stdin, what the caller asked) carries the audit
//! line as JSON (original and rewritten query, range, step, series counted, decision);
//! channel 1 (stdout) carries the body exactly as the caller receives it. They pass through
//! the same [`RecordFilter`]s as session bytes do, so the same fail-closed rule holds: the
//! answer is released only after the recorder accepted every byte of it.

use std::net::SocketAddr;

use bytes::Bytes;

use super::audit::MetricsAudit;
use crate::auth::Identity;
use crate::channel::{Channel, Frame, Msg};
use crate::peer::MAX_FRAME_LEN;
use crate::pipeline::{EndReason, EndSession, Filter, Pipeline, SessionEnd};
use crate::record::{RecordFilter, Recorder, SessionMeta};
use crate::status::Status;

/// The session kind of a gateway request.
pub const SESSION_KIND: &str = "metrics";

/// Records one request: `audit` as the request, `body` as the answer, and returns the
/// recording's id. An error means the answer must not be delivered (the recording could
/// not take it).
pub async fn record(
    recorder: &Recorder,
    identity: &Identity,
    remote: SocketAddr,
    audit: &MetricsAudit,
    body: &Bytes,
) -> Result<String, EndSession> {
    let pipeline = Pipeline::new();
    let meta = SessionMeta {
        kind: SESSION_KIND.into(),
        user: identity.user.clone(),
        uid: identity.uid.clone(),
        groups: identity.groups.clone(),
        cluster: "prometheus".into(),
        argv: vec![audit.endpoint.to_string(), audit.query.clone()],
        stdin: true,
        protocol: "http/http".into(),
        client_addr: remote.to_string(),
        policy_rule: audit.rule.clone(),
        ..SessionMeta::default()
    };
    let handle = recorder.start(meta, pipeline.end_handle());
    let id = handle.session_id().to_string();
    let mut asked = RecordFilter::new(handle.clone(), false);
    let mut answered = RecordFilter::new(handle, true);
    let request = serde_json::to_vec(audit).unwrap_or_default();
    let result = async {
        pass(&mut asked, Channel::Stdin, Bytes::from(request)).await?;
        for piece in body.chunks(MAX_FRAME_LEN) {
            pass(&mut answered, Channel::Stdout, body.slice_ref(piece)).await?;
        }
        pass(&mut answered, Channel::Stdout, Bytes::new()).await
    }
    .await;
    let end = match &result {
        Ok(()) => SessionEnd {
            reason: EndReason::Completed,
            status: Status::success(),
        },
        Err(e) => SessionEnd {
            reason: EndReason::Ended,
            status: e.status().clone(),
        },
    };
    asked.on_end(&end);
    answered.on_end(&end);
    result.map(|()| id)
}

/// Waits for room in the recording window, then records `bytes` on `channel`.
async fn pass(filter: &mut RecordFilter, channel: Channel, bytes: Bytes) -> Result<(), EndSession> {
    let msg = if bytes.is_empty() {
        Msg::Close(channel)
    } else {
        Msg::Data(Frame { channel, bytes })
    };
    if let Some(ready) = filter.ready(&msg) {
        ready.await;
    }
    let mut out = Vec::with_capacity(1);
    filter.on_msg(msg, &mut out)
}
