//! Redaction the way the proxy drives it, for the redact benches: an input fed to a
//! [`StreamRedactor`](redact::StreamRedactor) in [`CHUNK`]-byte `Bytes` slices, as proxy
//! frames arrive, or redacted whole.
//!
//! Only the `redact` API that every version since the first has (`stream`, `push`,
//! `finish`, `redact_all`) is used: `benches/redact-ab.sh` compiles this file against an
//! older `redact` too.

use bytes::Bytes;
use redact::Redactor;

/// Size of each corpus the redact benches feed.
pub const SIZE: usize = 2 << 20;
/// Chunk size fed to the stream redactor, a typical proxy frame.
pub const CHUNK: usize = 16 << 10;

/// What one redaction of an input produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redacted {
    /// Output bytes.
    pub bytes: usize,
    /// Findings reported.
    pub findings: usize,
}

/// Redacts `input` through one stream in `chunk`-byte slices.
pub fn stream(r: &Redactor, input: &Bytes, chunk: usize) -> Redacted {
    let mut s = r.stream();
    let (mut out, mut findings) = (Vec::with_capacity(64), Vec::new());
    let mut done = Redacted {
        bytes: 0,
        findings: 0,
    };
    let mut at = 0;
    while at < input.len() {
        let end = (at + chunk).min(input.len());
        s.push(input.slice(at..end), &mut out, &mut findings);
        done.bytes += out.drain(..).map(|b| b.len()).sum::<usize>();
        done.findings += findings.len();
        findings.clear();
        at = end;
    }
    s.finish(&mut out, &mut findings);
    done.bytes += out.iter().map(Bytes::len).sum::<usize>();
    done.findings += findings.len();
    done
}

/// Redacts `input` in one call.
pub fn whole(r: &Redactor, input: &[u8]) -> Redacted {
    let (out, findings) = r.redact_all(input);
    Redacted {
        bytes: out.len(),
        findings: findings.len(),
    }
}
