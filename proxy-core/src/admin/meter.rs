//! The session metering filters: bytes per channel and direction, and the session's outcome.
//!
//! [`install`] is called once per session from the one place pipelines are built
//! (`server/session.rs`), so exec, attach, logs, port-forward and MCP sessions are all
//! counted the same way. Counting a message is one atomic add on a counter resolved when
//! the session started.

use std::sync::Arc;

use super::metrics::{SessionMeter, metrics};
use crate::channel::Msg;
use crate::pipeline::{Direction, EndSession, Filter, Pipeline, SessionEnd};

/// Counts the session as active now and adds a metering filter in each direction.
pub(crate) fn install(pipeline: &mut Pipeline, kind: &'static str) {
    let meter = Arc::new(metrics().session_started(kind));
    for dir in [Direction::ToServer, Direction::ToClient] {
        pipeline.filter(
            dir,
            Box::new(Meter {
                dir,
                meter: meter.clone(),
            }),
        );
    }
}

/// Counts what passes in one direction; reports the end.
struct Meter {
    dir: Direction,
    meter: Arc<SessionMeter>,
}

impl Filter for Meter {
    fn on_msg(&mut self, msg: Msg, out: &mut Vec<Msg>) -> Result<(), EndSession> {
        if let Msg::Data(frame) = &msg {
            self.meter.bytes(self.dir, frame.channel, frame.bytes.len());
        }
        out.push(msg);
        Ok(())
    }

    fn on_end(&mut self, end: &SessionEnd) {
        self.meter.end(end);
    }
}
