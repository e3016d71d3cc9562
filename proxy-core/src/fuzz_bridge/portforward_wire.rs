//! The client side of the `portforward_serve` target: a kubectl-like script built from the
//! fuzzer's bytes, and an independent reading of what it sent.
//!
//! Input: a mode byte (see [`Mode`]), then operations, each an op byte and its arguments:
//! SYN_STREAM (stream id, `streamtype` error/data/other/missing, `port`
//! valid/other/invalid/missing, `requestid` chosen/missing/long/arbitrary, FIN and
//! UNIDIRECTIONAL flags), DATA (stream id, FIN, payload taken from the input), RST_STREAM,
//! PING, GOAWAY, a run of raw bytes, a pause (virtual time, so pair timeouts fire), another
//! frame (WINDOW_UPDATE, SETTINGS, HEADERS, SYN_REPLY), a WebSocket control message (tunnel
//! only) and dropping the connection's shutdown sender. Header blocks go through ONE
//! client-side compression context for the whole connection, as kubectl's do. Stream ids
//! default to the next fresh odd id (SYN_STREAM) or a recently opened one (the others).

use std::collections::HashSet;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::fuzz_bridge::input::Input;
use crate::portforward::pairs::{MAX_REQUEST_ID_LEN, StreamHeaders, StreamKind};
use crate::spdy::decoder::FrameDecoder;
use crate::spdy::frame::{
    Data, Frame, GoAway, GoAwayStatus, Headers, Ping, RstStatus, RstStream, Setting, Settings,
    StreamId, SynReply, SynStream, WindowUpdate,
};
use crate::spdy::header_block::HeaderBlock;
use crate::spdy::zlib::{HeaderCompressor, HeaderDecompressor};

/// Longest single pause an input may ask for (longer than [`crate::portforward::PAIR_TIMEOUT`]).
const MAX_PAUSE: Duration = Duration::from_secs(63);
/// Total pause per input: bounds the virtual time (and the housekeeping ticks) of one run.
pub(super) const MAX_TOTAL_PAUSE: Duration = Duration::from_secs(600);
/// Ports that are not 1–65535 in decimal.
const BAD_PORTS: [&str; 8] = ["0", "65536", "http", "", "-1", "+80", " 80", "99999999999"];
/// Stream types other than `error` and `data`.
const OTHER_TYPES: [&str; 4] = ["stdin", "Data", "errors", ""];

/// How the harness behaves, from the first input byte.
#[derive(Clone, Copy, Debug)]
pub(super) struct Mode(u8);

impl Mode {
    /// SPDY inside WebSocket binary messages (the tunnel), else raw SPDY.
    pub(super) fn tunnel(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// Tunnel: each operation in its own message, else one message per run of operations.
    fn message_per_op(self) -> bool {
        self.0 & 0x02 != 0
    }
    /// Whether the harness echoes the `n`th pair's bytes back on stdout.
    pub(super) fn echo(self, n: usize) -> bool {
        match (self.0 >> 2) & 3 {
            0 => false,
            1 => true,
            2 => n % 2 == 1,
            _ => n.is_multiple_of(2),
        }
    }
    /// Keep a pair's `outgoing` until its `incoming` ends (else drop it at the client's FIN).
    pub(super) fn hold(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// Send `Close(Stdout)` before dropping `outgoing`.
    pub(super) fn close_stdout(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// Send a failure status on the error channel before dropping `outgoing`.
    pub(super) fn fail(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// Drop each announced pair at once, unread.
    pub(super) fn drop_pairs(self) -> bool {
        self.0 & 0x80 != 0
    }
}

/// One step of the client's writer.
#[derive(Debug)]
pub(super) enum Segment {
    /// Bytes for the socket.
    Bytes(Vec<u8>),
    /// Wait this long (virtual time).
    Pause(Duration),
    /// Drop the connection's shutdown sender (the upstream side is gone).
    Shutdown,
}

/// What the client does.
#[derive(Debug)]
pub(super) struct Script {
    pub(super) mode: Mode,
    pub(super) segments: Vec<Segment>,
    /// The SPDY byte stream (inside the tunnel's messages, or the socket's bytes).
    pub(super) spdy: Vec<u8>,
    /// Every byte written to the socket.
    pub(super) sent: usize,
    /// Total pause.
    pub(super) paused: Duration,
}

/// Builds the script. See the module docs.
pub(super) fn script(data: &[u8]) -> Script {
    let mut input = Input::new(data);
    let mode = Mode(input.byte());
    let mut b = Builder {
        mode,
        z: HeaderCompressor::new(),
        next_id: 1,
        opened: Vec::new(),
        run: Vec::new(),
        script: Script {
            mode,
            segments: Vec::new(),
            spdy: Vec::new(),
            sent: 0,
            paused: Duration::ZERO,
        },
    };
    while !input.is_empty() {
        b.op(&mut input);
        if mode.message_per_op() {
            b.flush();
        }
    }
    b.flush();
    b.script
}

struct Builder {
    mode: Mode,
    /// The client's one compression context.
    z: HeaderCompressor,
    next_id: StreamId,
    opened: Vec<StreamId>,
    /// SPDY bytes not yet in a segment.
    run: Vec<u8>,
    script: Script,
}

impl Builder {
    fn op(&mut self, input: &mut Input<'_>) {
        match input.byte() % 10 {
            0 => self.syn_stream(input),
            1 => {
                let stream_id = self.stream_id(input, false);
                let flags = input.byte();
                let len = match flags >> 1 {
                    0x7f => usize::from(input.u16()),
                    n => usize::from(n),
                };
                let payload = Bytes::copy_from_slice(input.take(len));
                self.frame(Frame::Data(Data {
                    stream_id,
                    fin: flags & 1 != 0,
                    payload,
                }));
            }
            2 => {
                let stream_id = self.stream_id(input, false);
                match RstStatus::new(u32::from(input.byte())) {
                    Some(status) => self.frame(Frame::RstStream(RstStream { stream_id, status })),
                    // Status 0 is invalid: the encoder cannot write it.
                    None => {
                        self.run.extend([0x80, 3, 0, 3, 0, 0, 0, 8]);
                        self.run.extend(stream_id.to_be_bytes());
                        self.run.extend([0; 4]);
                    }
                }
            }
            3 => {
                let id = u32::from(input.u16());
                self.frame(Frame::Ping(Ping { id }));
            }
            4 => {
                let last_good_stream_id = self.opened.last().copied().unwrap_or(0);
                let status = GoAwayStatus(u32::from(input.byte()));
                self.frame(Frame::GoAway(GoAway {
                    last_good_stream_id,
                    status,
                }));
            }
            5 => self.run.extend_from_slice(input.short()),
            6 => {
                let pause = Duration::from_secs(u64::from(input.byte())).min(MAX_PAUSE);
                if self.script.paused + pause <= MAX_TOTAL_PAUSE {
                    self.flush();
                    self.script.paused += pause;
                    self.script.segments.push(Segment::Pause(pause));
                }
            }
            7 => self.other_frame(input),
            8 => self.ws_control(input),
            _ => {
                self.flush();
                self.script.segments.push(Segment::Shutdown);
            }
        }
    }

    /// A stream id: by default a fresh one (`fresh`) or a recently opened one; else an even
    /// id or an arbitrary one.
    fn stream_id(&mut self, input: &mut Input<'_>, fresh: bool) -> StreamId {
        let b = input.byte();
        match (b >> 6, fresh) {
            (0, true) | (1, false) => {
                let id = self.next_id;
                self.next_id = self.next_id.saturating_add(2);
                id
            }
            (0, false) | (1, true) => {
                let back = usize::from(b & 0x3f);
                self.opened.iter().rev().nth(back).copied().unwrap_or(1)
            }
            (2, _) => u32::from(b & 0x3f) * 2,
            _ => u32::from(input.u16()),
        }
    }

    fn syn_stream(&mut self, input: &mut Input<'_>) {
        let stream_id = self.stream_id(input, true);
        let h = input.byte();
        let mut block = HeaderBlock::new();
        let mut add = |name: &str, value: Bytes| {
            // Distinct names, values far below the limits.
            block.insert(name, value).expect("valid header");
        };
        match h & 3 {
            0 => add("streamtype", Bytes::from_static(b"error")),
            1 => add("streamtype", Bytes::from_static(b"data")),
            2 => {
                let other = OTHER_TYPES[usize::from(input.byte()) % OTHER_TYPES.len()];
                add("streamtype", Bytes::from_static(other.as_bytes()));
            }
            _ => {}
        }
        match (h >> 2) & 3 {
            0 => add("port", Bytes::from_static(b"8080")),
            1 => add("port", (1 + u32::from(input.byte())).to_string().into()),
            2 => {
                let bad = BAD_PORTS[usize::from(input.byte()) % BAD_PORTS.len()];
                add("port", Bytes::from_static(bad.as_bytes()));
            }
            _ => {}
        }
        match (h >> 4) & 3 {
            0 => add("requestid", input.byte().to_string().into()),
            1 => {}
            2 => add("requestid", "7".repeat(MAX_REQUEST_ID_LEN + 1).into()),
            _ => add("requestid", Bytes::copy_from_slice(input.short())),
        }
        let header_block = self.z.compress(&block).expect("compressible block");
        self.opened.push(stream_id);
        self.frame(Frame::SynStream(SynStream {
            fin: h & 0x40 != 0,
            unidirectional: h & 0x80 != 0,
            ..SynStream::new(stream_id, header_block)
        }));
    }

    fn other_frame(&mut self, input: &mut Input<'_>) {
        let choice = input.byte();
        let stream_id = self.stream_id(input, false);
        let frame = match choice % 4 {
            0 => Frame::WindowUpdate(WindowUpdate {
                stream_id,
                delta: u32::from(input.u16()).max(1),
            }),
            1 => Frame::Settings(Settings {
                clear: choice & 0x80 != 0,
                entries: vec![Setting {
                    flags: 0,
                    id: u32::from(input.byte()),
                    value: u32::from(input.u16()),
                }],
            }),
            2 => {
                let mut block = HeaderBlock::new();
                block
                    .insert("x-kubewitness-fuzz", Bytes::copy_from_slice(input.short()))
                    .expect("valid header");
                Frame::Headers(Headers {
                    stream_id,
                    fin: choice & 0x80 != 0,
                    header_block: self.z.compress(&block).expect("compressible block"),
                })
            }
            _ => Frame::SynReply(SynReply {
                stream_id,
                fin: false,
                header_block: self
                    .z
                    .compress(&HeaderBlock::new())
                    .expect("compressible block"),
            }),
        };
        self.frame(frame);
    }

    /// A WebSocket control or text message between the tunnel's binary messages.
    fn ws_control(&mut self, input: &mut Input<'_>) {
        let choice = input.byte();
        let payload = input.take(usize::from(choice >> 2).min(125));
        if !self.mode.tunnel() {
            return;
        }
        self.flush();
        let opcode = match choice & 3 {
            0 => 0x9, // ping
            1 => 0xa, // pong
            2 => 0x1, // text
            _ => 0x8, // close (the payload, if any, as its body)
        };
        let wire = ws_message(opcode, payload);
        self.script.sent += wire.len();
        self.script.segments.push(Segment::Bytes(wire));
    }

    fn frame(&mut self, frame: Frame) {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        self.run.extend_from_slice(&buf);
    }

    /// Turns the pending SPDY bytes into a segment (one binary message in the tunnel).
    fn flush(&mut self) {
        if self.run.is_empty() {
            return;
        }
        let run = std::mem::take(&mut self.run);
        self.script.spdy.extend_from_slice(&run);
        let wire = if self.mode.tunnel() {
            ws_message(0x2, &run)
        } else {
            run
        };
        self.script.sent += wire.len();
        self.script.segments.push(Segment::Bytes(wire));
    }
}

/// One final, masked (zero key) client WebSocket frame.
fn ws_message(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut wire = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => wire.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            wire.push(0x80 | 126);
            wire.extend((n as u16).to_be_bytes());
        }
        n => {
            wire.push(0x80 | 127);
            wire.extend((n as u64).to_be_bytes());
        }
    }
    wire.extend([0; 4]);
    wire.extend_from_slice(payload);
    wire
}

/// What the client's SPDY stream offers the driver, read independently of it: frames up to
/// the first point where the driver stops reading (a decoding or inflating error, a
/// SYN_REPLY, a GOAWAY).
#[derive(Debug, Default)]
pub(super) struct Offered {
    /// SYN_STREAMs whose headers are a valid `error` / `data` stream.
    pub(super) error_streams: usize,
    pub(super) data_streams: usize,
    /// `(kind, port, request id)` of each valid stream.
    pub(super) streams: HashSet<(StreamKind, u16, String)>,
    /// DATA payload bytes on valid data streams, after their SYN_STREAM.
    pub(super) data_bytes: usize,
}

impl Offered {
    pub(super) fn read(spdy: &[u8]) -> Offered {
        let mut offered = Offered::default();
        let mut decoder = FrameDecoder::new();
        let mut z = HeaderDecompressor::new();
        let mut buf = BytesMut::from(spdy);
        let mut data_ids = HashSet::new();
        while let Ok(Some(frame)) = decoder.decode(&mut buf) {
            match frame {
                Frame::SynStream(syn) => {
                    let Ok(block) = z.decompress(&syn.header_block) else {
                        break;
                    };
                    let Ok(h) = StreamHeaders::parse(syn.stream_id, &block) else {
                        continue;
                    };
                    match h.kind {
                        StreamKind::Error => offered.error_streams += 1,
                        StreamKind::Data => {
                            offered.data_streams += 1;
                            data_ids.insert(syn.stream_id);
                        }
                    }
                    offered.streams.insert((h.kind, h.port, h.request_id));
                }
                // Every HEADERS block goes through the context too (the guard always runs).
                Frame::Headers(h) if z.decompress(&h.header_block).is_err() => break,
                Frame::Data(d) if data_ids.contains(&d.stream_id) => {
                    offered.data_bytes += d.payload.len();
                }
                Frame::SynReply(_) | Frame::GoAway(_) => break,
                _ => {}
            }
        }
        offered
    }

    /// Most pairs the driver can assemble from these streams.
    pub(super) fn max_pairs(&self) -> usize {
        self.error_streams.min(self.data_streams)
    }
}
