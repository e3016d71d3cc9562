//! Reading a recorded session back: every event in order, and the three export formats.
//!
//! * `text`: stdout bytes to one writer, stderr bytes to another, exactly as the client saw
//!   them (redactions included).
//! * `jsonl`: one JSON object per event; data as `text` when valid UTF-8, else `base64`.
//! * `asciicast`: an asciinema v2 cast (TTY sessions): a header line, then `[time, "o",
//!   text]` for output, `"i"` for input and `"r"` (`"COLSxROWS"`) for resizes.

use std::io::Write;

use base64::Engine;
use serde_json::json;

use super::chunk;
use super::event::{Event, SessionMeta, Timed};
use super::store::{RecordStore, chunk_name};
use crate::channel::Channel;

/// Calls `each` with every event of `session` in order; stops at the first missing chunk.
/// Returns the session's start metadata. Does not verify (run `verify` for that).
pub async fn for_each_event(
    store: &RecordStore,
    session: &str,
    mut each: impl FnMut(&Timed) -> std::io::Result<()>,
) -> Result<SessionMeta, String> {
    let mut meta = None;
    for seq in 0u64.. {
        let obj = match store.get(&chunk_name(session, seq)).await {
            Ok(o) => o,
            Err(e) if e.is_not_found() && seq > 0 => break,
            Err(e) => return Err(e.to_string()),
        };
        let (_, events) =
            chunk::decode(&obj).map_err(|e| format!("chunk {seq} does not decode: {e}"))?;
        for e in &events {
            if let Event::Start(m) = &e.event {
                meta.get_or_insert_with(|| (**m).clone());
            }
            each(e).map_err(|e| e.to_string())?;
        }
    }
    meta.ok_or_else(|| format!("{session}: no start event"))
}

/// Writes stdout and stderr as the client saw them.
pub async fn text(
    store: &RecordStore,
    session: &str,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), String> {
    for_each_event(store, session, |t| match &t.event {
        Event::Data {
            channel: Channel::Stdout,
            bytes,
        } => stdout.write_all(bytes),
        Event::Data {
            channel: Channel::Stderr,
            bytes,
        } => stderr.write_all(bytes),
        _ => Ok(()),
    })
    .await?;
    stdout.flush().map_err(|e| e.to_string())
}

/// Writes one JSON object per event.
pub async fn jsonl(store: &RecordStore, session: &str, out: &mut dyn Write) -> Result<(), String> {
    for_each_event(store, session, |t| {
        let time = t.t_us as f64 / 1e6;
        let line = match &t.event {
            Event::Start(m) => json!({"t": time, "event": "start", "meta": m}),
            Event::Data { channel, bytes } => {
                let mut v = json!({"t": time, "event": "data", "channel": channel.stream_type()});
                match std::str::from_utf8(bytes) {
                    Ok(s) => v["text"] = json!(s),
                    Err(_) => {
                        v["base64"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes))
                    }
                }
                v
            }
            Event::Close(c) => json!({"t": time, "event": "close", "channel": c.stream_type()}),
            Event::Finding(f) => json!({"t": time, "event": "finding", "finding": f}),
            Event::Policy(p) => json!({"t": time, "event": "policy", "policy": p}),
        };
        writeln!(out, "{line}")
    })
    .await?;
    out.flush().map_err(|e| e.to_string())
}

/// Writes an asciinema v2 cast; refuses sessions without a TTY.
pub async fn asciicast(
    store: &RecordStore,
    session: &str,
    out: &mut dyn Write,
) -> Result<(), String> {
    // The header needs the first size, so collect the lines first.
    let mut lines = Vec::new();
    let mut size = None;
    let mut carry = [Utf8Carry::default(), Utf8Carry::default()];
    let meta = for_each_event(store, session, |t| {
        let time = t.t_us as f64 / 1e6;
        if let Event::Data { channel, bytes } = &t.event {
            match channel {
                Channel::Stdout | Channel::Stderr => {
                    let s = carry[0].push(bytes);
                    if !s.is_empty() {
                        lines.push(json!([time, "o", s]));
                    }
                }
                Channel::Stdin => {
                    let s = carry[1].push(bytes);
                    if !s.is_empty() {
                        lines.push(json!([time, "i", s]));
                    }
                }
                Channel::Resize => {
                    for (w, h) in resizes(bytes) {
                        size.get_or_insert((w, h));
                        lines.push(json!([time, "r", format!("{w}x{h}")]));
                    }
                }
                Channel::Error => {}
            }
        }
        Ok(())
    })
    .await?;
    if !meta.tty {
        return Err(format!("{session} has no TTY; use --format text or jsonl"));
    }
    let (w, h) = size.unwrap_or((80, 24));
    let header = json!({
        "version": 2, "width": w, "height": h,
        "timestamp": meta.start_ms / 1000,
        "title": format!("{} {}/{} {}", meta.user, meta.namespace, meta.pod, meta.argv.join(" ")),
    });
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        writeln!(out, "{header}")?;
        for l in &lines {
            writeln!(out, "{l}")?;
        }
        out.flush()
    };
    write(out).map_err(|e| e.to_string())
}

/// `{"Width":W,"Height":H}` objects in a resize frame.
fn resizes(bytes: &[u8]) -> Vec<(u64, u64)> {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<serde_json::Value>()
        .filter_map(Result::ok)
        .filter_map(|v| Some((v.get("Width")?.as_u64()?, v.get("Height")?.as_u64()?)))
        .collect()
}

/// Turns a byte stream into text without splitting a UTF-8 sequence across events.
#[derive(Default)]
struct Utf8Carry {
    held: Vec<u8>,
}

impl Utf8Carry {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.held.extend_from_slice(bytes);
        // Keep an incomplete sequence at the end (at most 3 bytes) for the next event.
        let keep = incomplete_tail(&self.held);
        let rest = self.held.split_off(self.held.len() - keep);
        let text = String::from_utf8_lossy(&self.held).into_owned();
        self.held = rest;
        text
    }
}

fn incomplete_tail(b: &[u8]) -> usize {
    for back in 1..=3.min(b.len()) {
        let c = b[b.len() - back];
        if c & 0xC0 == 0x80 {
            continue;
        }
        let need = match c {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return 0,
        };
        return if need > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_never_split() {
        let s = "héllo wörld ✓ 🎉";
        let bytes = s.as_bytes();
        for cut in 0..=bytes.len() {
            let mut c = Utf8Carry::default();
            let mut out = c.push(&bytes[..cut]);
            out.push_str(&c.push(&bytes[cut..]));
            assert_eq!(out, s, "cut at {cut}");
        }
    }

    #[test]
    fn resize_frames_parse() {
        assert_eq!(
            resizes(br#"{"Width":100,"Height":40}{"Width":90,"Height":30}"#),
            [(100, 40), (90, 30)]
        );
        assert!(resizes(b"garbage").is_empty());
    }
}
