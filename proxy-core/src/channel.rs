//! The protocol-neutral vocabulary of a remotecommand session.
//!
//! SPDY streams and WebSocket channels both decode into [`Msg`]s carrying [`Frame`]s, so
//! everything downstream of the codecs (policy, redaction, caps, recording) is written once.
//! Payloads are `Bytes` slices of the connection's read buffer: nothing here copies.

use bytes::Bytes;

/// One logical stream of an exec/attach session.
///
/// The discriminants are the WebSocket channel numbers (apimachinery
/// `pkg/util/remotecommand/constants.go`); [`Channel::stream_type`] is the SPDY `streamtype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Channel {
    /// Client → server input.
    Stdin = 0,
    /// Server → client output.
    Stdout = 1,
    /// Server → client error output (absent with a TTY).
    Stderr = 2,
    /// Server → client: the session's final `Status` (normalised to v4 JSON in the pipeline).
    Error = 3,
    /// Client → server: a stream of `{"Width":..,"Height":..}` JSON objects (TTY only).
    Resize = 4,
}

impl Channel {
    /// All channels, in WebSocket number order.
    pub const ALL: [Channel; 5] = [
        Channel::Stdin,
        Channel::Stdout,
        Channel::Stderr,
        Channel::Error,
        Channel::Resize,
    ];

    /// The channel with WebSocket number `n`, if any.
    pub fn from_index(n: u8) -> Option<Channel> {
        Channel::ALL.get(usize::from(n)).copied()
    }

    /// The WebSocket channel number.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The SPDY `streamtype` header value.
    pub fn stream_type(self) -> &'static str {
        match self {
            Channel::Stdin => "stdin",
            Channel::Stdout => "stdout",
            Channel::Stderr => "stderr",
            Channel::Error => "error",
            Channel::Resize => "resize",
        }
    }

    /// The channel for a SPDY `streamtype` header value (exact, lowercase).
    pub fn from_stream_type(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.stream_type() == s)
    }

    /// Whether data on this channel flows from the client to the server.
    pub fn is_client_to_server(self) -> bool {
        matches!(self, Channel::Stdin | Channel::Resize)
    }
}

/// A slice of one channel's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The channel the bytes belong to.
    pub channel: Channel,
    /// The payload; may be empty.
    pub bytes: Bytes,
}

impl Frame {
    /// A frame on `channel`.
    pub fn new(channel: Channel, bytes: impl Into<Bytes>) -> Frame {
        Frame {
            channel,
            bytes: bytes.into(),
        }
    }
}

/// What flows between a peer driver and the session pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// Bytes on a channel.
    Data(Frame),
    /// The sender half-closed the channel (SPDY FIN, WebSocket v5 CLOSE).
    Close(Channel),
}

/// Which streams a session carries: the `stdin`, `stdout`, `stderr` and `tty` query flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// The client sends input.
    pub stdin: bool,
    /// The server sends stdout.
    pub stdout: bool,
    /// The server sends stderr (never with a TTY).
    pub stderr: bool,
    /// The session runs in a terminal; enables resize, merges stderr into stdout.
    pub tty: bool,
}

impl StreamOptions {
    /// Reads the flags from a raw query string with the API server's rules: only the first
    /// value of a key counts, a missing key is false, and only `0` and `false`
    /// (case-insensitive) are false — anything else, the empty string included, is true
    /// (apimachinery `pkg/runtime/conversion.go` `Convert_Slice_string_To_bool`).
    pub fn from_query(query: &str) -> StreamOptions {
        let flag = |name: &str| {
            let first = url_pairs(query).find(|(k, _)| k == name);
            match first {
                None => false,
                Some((_, v)) => !(v == "0" || v.eq_ignore_ascii_case("false")),
            }
        };
        let tty = flag("tty");
        StreamOptions {
            stdin: flag("stdin"),
            stdout: flag("stdout"),
            // The kubelet drops stderr when tty is set.
            stderr: flag("stderr") && !tty,
            tty,
        }
    }

    /// The channels of a session with these options, in the order a client creates its SPDY
    /// streams: error, stdin, stdout, stderr, resize (client-go `remotecommand/v2.go`, `v3.go`).
    /// `resize` is listed only with a TTY and a protocol that supports it.
    pub fn channels(&self, protocol: Protocol) -> Vec<Channel> {
        let mut out = vec![Channel::Error];
        if self.stdin {
            out.push(Channel::Stdin);
        }
        if self.stdout {
            out.push(Channel::Stdout);
        }
        if self.stderr && !self.tty {
            out.push(Channel::Stderr);
        }
        if self.tty && protocol.supports_resize() {
            out.push(Channel::Resize);
        }
        out
    }
}

/// Iterates `key=value` pairs of a query string, percent-decoded (`+` is a space).
/// Pairs that fail to decode are yielded with the raw text.
pub fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

/// Checks a raw query string the way the API server would read it, refusing what it would
/// read differently or not at all: an escape that is not `%` and two hex digits (Go's
/// `url.ParseQuery` drops such a pair, kubewitness would keep it), and keys or values that
/// decode to invalid UTF-8 or contain NUL (an argv kubewitness could not show faithfully).
/// Callers that decide on a query check it first; [`url_pairs`] then reads it exactly.
pub fn check_query(query: &str) -> Result<(), &'static str> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        for part in [k, v] {
            let bytes = decode_bytes(part).ok_or("an invalid percent-escape")?;
            if bytes.contains(&0) {
                return Err("a NUL byte in a parameter");
            }
            if std::str::from_utf8(&bytes).is_err() {
                return Err("a parameter that is not valid UTF-8");
            }
        }
    }
    Ok(())
}

/// Decodes `+` and `%XX`; `None` for any other use of `%`.
fn decode_bytes(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(hex_value(hex[0]) << 4 | hex_value(hex[1]));
                i += 3;
                continue;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// Decodes a key or value; an invalid escape is kept literally and invalid UTF-8 is
/// replaced (lossy). Code that decides on a query runs [`check_query`] first, so it never
/// sees either.
fn percent_decode(s: &str) -> String {
    match decode_bytes(s) {
        Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        None => s.replace('+', " "),
    }
}

/// The remotecommand sub-protocol version (apimachinery `remotecommand/constants.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// `channel.k8s.io`: plain-text error stream, no resize.
    V1,
    /// `v2.channel.k8s.io`: fixes v1's stdin handling.
    V2,
    /// `v3.channel.k8s.io`: adds resize.
    V3,
    /// `v4.channel.k8s.io`: JSON `Status` with exit codes on the error stream.
    V4,
    /// `v5.channel.k8s.io`: adds the WebSocket CLOSE signal.
    V5,
}

impl Protocol {
    /// Newest first: the order clients offer them in.
    pub const ALL: [Protocol; 5] = [
        Protocol::V5,
        Protocol::V4,
        Protocol::V3,
        Protocol::V2,
        Protocol::V1,
    ];

    /// The `X-Stream-Protocol-Version` / binary WebSocket sub-protocol name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::V1 => "channel.k8s.io",
            Protocol::V2 => "v2.channel.k8s.io",
            Protocol::V3 => "v3.channel.k8s.io",
            Protocol::V4 => "v4.channel.k8s.io",
            Protocol::V5 => "v5.channel.k8s.io",
        }
    }

    /// The protocol named `s` (exact match).
    pub fn from_name(s: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Whether the resize channel exists (v3+).
    pub fn supports_resize(self) -> bool {
        self >= Protocol::V3
    }

    /// Whether the error channel carries a JSON `Status` (v4+) rather than plain text.
    pub fn json_status(self) -> bool {
        self >= Protocol::V4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_flags_follow_the_api_server() {
        let o = StreamOptions::from_query("stdin=&stdout=true&stderr=0&tty=FALSE");
        assert_eq!(
            o,
            StreamOptions {
                stdin: true,
                stdout: true,
                stderr: false,
                tty: false
            }
        );
        // Only the first value counts.
        let o = StreamOptions::from_query("stdout=false&stdout=true&stdin=yes&stdin=false");
        assert!(!o.stdout);
        assert!(o.stdin);
        // tty drops stderr.
        let o = StreamOptions::from_query("stderr=true&tty=1");
        assert!(!o.stderr && o.tty);
    }

    #[test]
    fn channel_order_matches_client_go() {
        let o = StreamOptions::from_query("stdin=true&stdout=true&tty=true");
        assert_eq!(
            o.channels(Protocol::V4),
            [
                Channel::Error,
                Channel::Stdin,
                Channel::Stdout,
                Channel::Resize
            ]
        );
        assert_eq!(
            o.channels(Protocol::V2),
            [Channel::Error, Channel::Stdin, Channel::Stdout]
        );
        let o = StreamOptions::from_query("stdout=true&stderr=true");
        assert_eq!(
            o.channels(Protocol::V4),
            [Channel::Error, Channel::Stdout, Channel::Stderr]
        );
    }

    #[test]
    fn query_pairs_are_percent_decoded() {
        let pairs: Vec<_> =
            url_pairs("command=sh&command=-c&command=echo%20hi+there&x=%zz&y=%4").collect();
        assert_eq!(pairs[2].1, "echo hi there");
        assert_eq!(pairs[3].1, "%zz");
        assert_eq!(pairs[4].1, "%4");
    }

    #[test]
    fn queries_the_api_server_would_read_differently_are_refused() {
        assert_eq!(check_query("command=ls&command=-l%20a+b&tty=1"), Ok(()));
        assert_eq!(check_query("command=%C3%A9"), Ok(()));
        for bad in [
            "command=%+1",
            "command=%-1",
            "command=%zz",
            "command=%4",
            "command=%",
            "x%2=1",
        ] {
            assert_eq!(check_query(bad), Err("an invalid percent-escape"), "{bad}");
        }
        assert_eq!(
            check_query("command=%FF%FE"),
            Err("a parameter that is not valid UTF-8")
        );
        assert_eq!(
            check_query("command=a%00b"),
            Err("a NUL byte in a parameter")
        );
    }
}
