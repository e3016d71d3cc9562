//! The session metering filters: bytes per channel and direction, and the session's outcome.
//!
//! [`install`] is called once per session from the one place pipelines are built
//! (`server/session.rs`), so exec, attach, logs, port-forward and MCP sessions are all
//! counted the same way. Counting a message is one atomic add on a counter resolved when
//! the session started.

use std::sync::Arc;

use super::{SessionMeter, metrics};
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::channel::{Channel, Frame};
    use crate::peer::Peer;
    use crate::status::Status;

    fn stdin_to_server() -> u64 {
        let text = metrics().encode();
        let series = "kubewitness_session_bytes_total{channel=\"stdin\",direction=\"to_server\"} ";
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn stdin_is_counted_toward_the_server() {
        let before = stdin_to_server();
        let mut pipeline = Pipeline::new();
        install(&mut pipeline, "exec");
        let (client, c) = Peer::fake();
        let (server, mut s) = Peer::fake();
        let session = tokio::spawn(pipeline.run(client, server));
        let input = Msg::Data(Frame::new(Channel::Stdin, Bytes::from_static(b"typed\n")));
        c.to_pipeline.send(input.clone()).await.unwrap();
        assert_eq!(s.from_pipeline.recv().await, Some(input));
        let done = Frame::new(Channel::Error, Status::success().to_json());
        s.to_pipeline.send(Msg::Data(done)).await.unwrap();
        drop(s);
        drop(c);
        session.await.unwrap();
        assert!(stdin_to_server() >= before + 6);
    }
}
