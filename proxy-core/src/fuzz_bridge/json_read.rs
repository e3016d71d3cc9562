//! The streaming JSON read redactor.

use bytes::Bytes;

use super::input::{Input, chunks};
use crate::redaction::json::{JsonRedactor, MAX_STRING_LEN};

/// A synthetic password, assembled at run time, planted as an env entry's value.
fn planted() -> String {
    ["fz", "Pw", "-", "q8Vt3", "Nk5Ws2"].concat()
}

/// Runs `input` through a fresh redactor in `pieces`: the output, or `None` on an error.
fn run(redactor: &redact::Redactor, pieces: &[&[u8]]) -> Option<Vec<u8>> {
    let mut r = JsonRedactor::new(redactor.clone());
    let mut out = Vec::new();
    for piece in pieces {
        r.push(Bytes::copy_from_slice(piece), &mut out).ok()?;
        assert!(r.held_bytes() <= MAX_STRING_LEN, "held beyond the bound");
    }
    r.finish().ok()?;
    Some(out.concat())
}

/// `JsonRedactor` on arbitrary bytes, with an env entry holding a synthetic password
/// spliced in at a fuzzer-chosen point when the first byte is odd: the output (or the error)
/// is the same however the input is cut; input that is one JSON value gives output that is
/// one JSON value; the planted password never survives in an output.
pub fn json_read_redaction(data: &[u8]) {
    let mut input = Input::new(data);
    let choice = input.byte();
    let sizes = input.short().to_vec();
    let mut text = input.rest().to_vec();
    if choice & 1 == 1 {
        let entry = format!("{{\"name\":\"DB_PASSWORD\",\"value\":\"{}\"}}", planted());
        let at = usize::from(choice >> 1).min(text.len());
        text.splice(at..at, entry.into_bytes());
    }
    let redactor = redact::fuzzing::redactor();
    let whole = run(&redactor, &[&text]);
    let cut = run(&redactor, &chunks(&text, &sizes));
    assert_eq!(whole, cut, "chunking changed the result");
    let Some(out) = whole else { return };
    if serde_json::from_slice::<serde_json::Value>(&text).is_ok() {
        serde_json::from_slice::<serde_json::Value>(&out).expect("JSON in, JSON out");
    }
    let shown = String::from_utf8_lossy(&out);
    assert!(!shown.contains(&planted()), "the planted password survived");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_hold_the_properties() {
        for seed in [
            &b"\x01\x03\x05[]"[..],
            b"\x11\x01{\"items\":[],\"k\":[1,true,null]}",
            b"\x00\x02{\"a\":\"b\"}\n{\"c\":\"d\"}\n",
            b"\x07\x01{\"x\":",
            b"\xff",
        ] {
            json_read_redaction(seed);
        }
    }
}
