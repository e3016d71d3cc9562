//! Test helpers: raw RFC 6455 frames as a client writes them (masked) and a scripted socket
//! that hands the driver chosen read chunks.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::channel::Msg;
use crate::peer::{Peer, PeerError};

pub(crate) const OP_CONT: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;

/// One client frame: FIN flag, opcode, masked payload (RFC 6455 §5.2, §5.3), with a fixed,
/// non-trivial masking key so the bytes on the wire differ from the payload.
pub(crate) fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = frame_header(fin, opcode, payload.len() as u64, true);
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// An unmasked server frame (what the driver should write).
pub(crate) fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(true, opcode, payload.len() as u64, false);
    out.extend_from_slice(payload);
    out
}

/// A frame header declaring `len` payload bytes.
pub(crate) fn frame_header(fin: bool, opcode: u8, len: u64, masked: bool) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out
}

/// A close frame payload: the code, big-endian.
pub(crate) fn close_payload(code: u16) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

/// A socket whose reads return the scripted chunks one by one (with a `Pending` between
/// chunks, to exercise the "need more bytes" paths), then EOF. Writes are recorded.
#[derive(Debug)]
pub(crate) struct ScriptedIo {
    reads: VecDeque<Vec<u8>>,
    pending_next: bool,
    written: Arc<Mutex<Vec<u8>>>,
}

impl ScriptedIo {
    pub(crate) fn new(chunks: Vec<Vec<u8>>) -> (ScriptedIo, Arc<Mutex<Vec<u8>>>) {
        let written = Arc::new(Mutex::new(Vec::new()));
        let io = ScriptedIo {
            reads: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
            pending_next: false,
            written: written.clone(),
        };
        (io, written)
    }
}

impl AsyncRead for ScriptedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pending_next {
            self.pending_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let Some(front) = self.reads.front_mut() else {
            return Poll::Ready(Ok(()));
        };
        let n = buf.remaining().min(front.len());
        buf.put_slice(&front[..n]);
        front.drain(..n);
        if front.is_empty() {
            self.reads.pop_front();
            self.pending_next = true;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ScriptedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written
            .lock()
            .expect("not poisoned")
            .extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Drains `peer.incoming` (keeping `outgoing` open until it ends) and returns what arrived
/// and how the driver finished.
pub(crate) async fn drain(peer: Peer) -> (Vec<Msg>, Result<(), PeerError>) {
    let Peer {
        mut incoming,
        outgoing,
        done,
    } = peer;
    let mut msgs = Vec::new();
    while let Some(msg) = incoming.recv().await {
        msgs.push(msg);
    }
    drop(outgoing);
    (msgs, done.await.expect("driver task"))
}
