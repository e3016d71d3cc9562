//! Driver tests over `tokio::io::duplex`: `connect` against `serve` (`session`), and each
//! driver against a raw peer speaking frames by hand (`server`, `client`).

mod client;
mod server;
mod session;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::client::{Timing, connect_with};
use super::decoder::FrameDecoder;
use super::frame::*;
use super::header_block::HeaderBlock;
use super::zlib::{HeaderCompressor, HeaderDecompressor};
use super::{connect, serve};
use crate::channel::{Channel, Frame as ChannelFrame, Msg, Protocol, StreamOptions};
use crate::peer::Peer;
use crate::status::Status;

pub(super) const PIPE: usize = 64 * 1024;

pub(super) fn opts(stdin: bool, stdout: bool, stderr: bool, tty: bool) -> StreamOptions {
    StreamOptions {
        stdin,
        stdout,
        stderr,
        tty,
    }
}

pub(super) async fn pair(o: StreamOptions, p: Protocol) -> (Peer, Peer) {
    let (a, b) = duplex(PIPE);
    let server = serve(a, o, p);
    let client = connect(b, o, p).await.expect("connect");
    (server, client)
}

pub(super) fn data(ch: Channel, b: &'static [u8]) -> Msg {
    Msg::Data(ChannelFrame::new(ch, Bytes::from_static(b)))
}

pub(super) async fn drain(peer: &mut Peer) -> Vec<Msg> {
    let mut out = Vec::new();
    while let Some(m) = peer.incoming.recv().await {
        out.push(m);
    }
    out
}

/// The v4 JSON status as an error-channel message.
pub(super) fn error_msg(s: &Status) -> Msg {
    Msg::Data(ChannelFrame::new(Channel::Error, s.to_json()))
}

/// A peer that speaks raw frames.
pub(crate) struct Raw {
    pub(crate) io: DuplexStream,
    buf: BytesMut,
    dec: FrameDecoder,
    z_out: HeaderCompressor,
    z_in: HeaderDecompressor,
    /// The headers of the last SYN_STREAM received.
    pub(crate) last_syn_headers: Option<HeaderBlock>,
}

impl Raw {
    pub(crate) fn new(io: DuplexStream) -> Raw {
        Raw {
            io,
            buf: BytesMut::new(),
            dec: FrameDecoder::new(),
            z_out: HeaderCompressor::new(),
            z_in: HeaderDecompressor::new(),
            last_syn_headers: None,
        }
    }

    pub(crate) async fn send(&mut self, f: Frame) {
        let mut out = Vec::new();
        f.encode(&mut out);
        self.io.write_all(&out).await.unwrap();
    }

    pub(crate) async fn recv(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self.dec.decode(&mut self.buf).unwrap() {
                // Keep the inbound zlib stream in step.
                match &f {
                    Frame::SynStream(s) => {
                        self.last_syn_headers = Some(self.z_in.decompress(&s.header_block).unwrap())
                    }
                    Frame::SynReply(s) => {
                        assert!(self.z_in.decompress(&s.header_block).unwrap().is_empty())
                    }
                    _ => {}
                }
                return Some(f);
            }
            if self.io.read_buf(&mut self.buf).await.unwrap() == 0 {
                return None;
            }
        }
    }

    pub(super) fn syn_stream(&mut self, id: u32, ty: &str) -> Frame {
        self.syn_stream_with(id, &[("streamtype", ty)])
    }

    /// A SYN_STREAM carrying `headers`.
    pub(crate) fn syn_stream_with(&mut self, id: u32, headers: &[(&str, &str)]) -> Frame {
        let mut h = HeaderBlock::new();
        for (k, v) in headers {
            h.insert(k, Bytes::copy_from_slice(v.as_bytes())).unwrap();
        }
        Frame::SynStream(SynStream::new(id, self.z_out.compress(&h).unwrap()))
    }

    pub(crate) fn syn_reply(&mut self, id: u32) -> Frame {
        Frame::SynReply(SynReply {
            stream_id: id,
            fin: false,
            header_block: self.z_out.compress(&HeaderBlock::new()).unwrap(),
        })
    }

    /// Acts as a server: replies to `n` SYN_STREAMs, returning their (id, streamtype) order.
    pub(super) async fn accept(&mut self, n: usize) -> Vec<u32> {
        let mut ids = Vec::new();
        while ids.len() < n {
            match self.recv().await.expect("client closed") {
                Frame::SynStream(s) => {
                    assert_eq!(s.priority, 0);
                    ids.push(s.stream_id);
                    let reply = self.syn_reply(s.stream_id);
                    self.send(reply).await;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        ids
    }
}

pub(super) fn data_frame(id: u32, fin: bool, b: &'static [u8]) -> Frame {
    Frame::Data(Data {
        stream_id: id,
        fin,
        payload: Bytes::from_static(b),
    })
}

/// Starts `connect` against a raw server that accepts all its streams.
pub(super) async fn raw_server(o: StreamOptions, p: Protocol) -> (Peer, Raw) {
    let (a, b) = duplex(PIPE);
    let task = tokio::spawn(connect(a, o, p));
    let mut raw = Raw::new(b);
    raw.accept(o.channels(p).len()).await;
    (task.await.unwrap().unwrap(), raw)
}
