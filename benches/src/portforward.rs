//! Port-forward through kubewitness: one forwarded connection to an echo server behind the
//! simulated API server, `bytes` sent while the echo is read back, checked byte for byte in
//! length and content.
//!
//! Only the simulated server directly and kubewitness with everything on are measured:
//! the "nothing on" kubewitness has no policy file, and the built-in policy allows no
//! port-forward. kubewitness records each forwarded connection and never redacts it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use proxy_core::channel::{Channel, Frame, Msg};

use crate::BenchError;
use crate::client::{Target, open_portforward};
use crate::e2e::SESSION_TIMEOUT;

/// The pod and port the echo server is mapped to in the simulator.
pub const POD: (&str, &str, u16) = ("default", "web-0", 80);

/// Bytes per stdin frame sent through the forwarded connection.
const SEND_CHUNK: usize = 32 * 1024;

/// Sends `bytes` through one forwarded connection to the echo server and reads them back;
/// returns the time from opening the port-forward connection to the last echoed byte.
pub async fn echo_throughput(target: &Target, bytes: u64) -> Result<Duration, BenchError> {
    let (namespace, pod, port) = POD;
    let start = Instant::now();
    let tunnel = open_portforward(target, namespace, pod).await?;
    let mut peer = tunnel.open(port, "0").await?;
    let pattern: Bytes = (0..SEND_CHUNK).map(|i| (i % 251) as u8).collect();
    let outgoing = peer.outgoing.clone();
    drop(peer.outgoing);
    let sender = tokio::spawn(async move {
        let mut left = bytes;
        while left > 0 {
            let n = left.min(SEND_CHUNK as u64) as usize;
            let frame = Frame::new(Channel::Stdin, pattern.slice(..n));
            if outgoing.send(Msg::Data(frame)).await.is_err() {
                break;
            }
            left -= n as u64;
        }
        // Keep the pair open (no Close) until everything came back.
        outgoing
    });
    let mut got = 0u64;
    let mut offset = 0usize;
    while got < bytes {
        let msg = tokio::time::timeout(SESSION_TIMEOUT, peer.incoming.recv()).await?;
        match msg {
            Some(Msg::Data(Frame {
                channel: Channel::Stdout,
                bytes: echoed,
            })) => {
                for b in echoed.iter() {
                    if *b != (offset % SEND_CHUNK % 251) as u8 {
                        return Err(format!("{}: echo differs at byte {got}", target.name).into());
                    }
                    offset += 1;
                }
                got += echoed.len() as u64;
            }
            Some(_) => {}
            None => {
                return Err(format!("{}: ended after {got} of {bytes} bytes", target.name).into());
            }
        }
    }
    let elapsed = start.elapsed();
    let outgoing = sender.await?;
    drop(outgoing);
    Ok(elapsed)
}
