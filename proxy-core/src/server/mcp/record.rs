//! Each tool call is a recorded session of kind `mcp`: the start metadata names the tool
//! (`argv[0]`), the validated arguments are the data the agent sent (stdin), the result text
//! exactly as the agent received it is the output (stdout), and the decision is a policy
//! event. The same recorder, chain and seal as every exec session; `verify` checks it.

use bytes::Bytes;

use super::Caller;
use crate::channel::Channel;
use crate::pipeline::{EndReason, Pipeline, SessionEnd};
use crate::record::{Event, PolicyEvent, RecorderHandle, SessionMeta};
use crate::server::Proxy;
use crate::status::Status;

/// The recording of one tool call.
#[derive(Debug)]
pub(crate) struct CallRecording {
    handle: Option<RecorderHandle>,
}

impl CallRecording {
    /// Starts recording a call of `tool` on `namespace`/`pod`.
    pub(crate) fn start(proxy: &Proxy, caller: &Caller, tool: &str, target: (&str, &str)) -> Self {
        let meta = SessionMeta {
            kind: "mcp".into(),
            user: caller.identity.user.clone(),
            uid: caller.identity.uid.clone(),
            groups: caller.identity.groups.clone(),
            cluster: proxy.upstream().url().to_string(),
            namespace: target.0.to_string(),
            pod: target.1.to_string(),
            argv: vec![tool.to_string()],
            protocol: format!("mcp/{}", caller.transport),
            client_addr: caller.remote.to_string(),
            ..Default::default()
        };
        // No pipeline runs for the call itself; the end handle only lets a failing store
        // report, which `finish` then sees as a recording error.
        let handle = proxy
            .recorder()
            .map(|r| r.start(meta, Pipeline::new().end_handle()));
        CallRecording { handle }
    }

    /// The recording id, when calls are recorded.
    pub(crate) fn id(&self) -> Option<&str> {
        self.handle.as_ref().map(|h| h.session_id())
    }

    /// Records the arguments, the result text and the decision, then seals. An error means
    /// the call could not be recorded: its result must not be shown.
    pub(crate) fn finish(
        self,
        args: &str,
        result: &str,
        decision: &str,
        failed: bool,
    ) -> Result<(), String> {
        let Some(handle) = self.handle else {
            return Ok(());
        };
        let events = [
            Event::Data {
                channel: Channel::Stdin,
                bytes: Bytes::copy_from_slice(args.as_bytes()),
            },
            Event::Close(Channel::Stdin),
            Event::Policy(PolicyEvent {
                kind: "decision".into(),
                detail: decision.to_string(),
            }),
            Event::Data {
                channel: Channel::Stdout,
                bytes: Bytes::copy_from_slice(result.as_bytes()),
            },
        ];
        for event in events {
            handle.record(event).map_err(|e| e.to_string())?;
        }
        let status = if failed {
            Status::failure("Forbidden", decision.to_string())
        } else {
            Status::success()
        };
        handle.finish(&SessionEnd {
            reason: EndReason::Completed,
            status,
        });
        Ok(())
    }
}
