//! Streaming redaction of JSON read responses (get, list, watch, `Table`), value by value.
//!
//! A byte-level tokenizer walks the JSON as it arrives, keeping only a bounded stack of
//! open containers (at most [`MAX_DEPTH`]), the current object key and the `name` of the
//! current object, and the bytes of one unfinished string (at most [`MAX_STRING_LEN`]).
//! Structure, numbers and literals pass through as slices of the input `Bytes`; each
//! string value, once complete, goes through `values` with its context (the key it
//! belongs to; in an `{name, value}` entry, the `name`), and is replaced only if the
//! redactor changed it. A list or an endless watch (newline-delimited JSON objects, so the
//! top level may hold any number of values) is never held whole.
//!
//! Fail closed: input that is not JSON, too deep, or a string too long is an error, and
//! the caller cuts the response off there; nothing after the error is passed on raw.

use bytes::Bytes;
use redact::{Finding, Redactor};

use super::values::Values;
pub use super::values::{MAX_EMBEDDED, WHOLE_VALUE_MASK};

/// The deepest nesting of objects and arrays accepted (Kubernetes objects nest ~20 deep).
pub const MAX_DEPTH: usize = 128;
/// The longest string accepted, raw (a ConfigMap value is at most 1 MiB; escapes grow it).
pub const MAX_STRING_LEN: usize = 4 << 20;
/// The longest number or literal accepted.
pub const MAX_SCALAR_LEN: usize = 512;
/// The longest object key kept as context; longer keys pass, without context.
pub const MAX_KEY_LEN: usize = 1024;

/// Why a JSON stream was cut off.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("JSON read redaction: {0}")]
pub struct JsonError(pub(super) String);

fn fail<T>(why: impl Into<String>) -> Result<T, JsonError> {
    Err(JsonError(why.into()))
}

/// An open container.
#[derive(Debug)]
enum Container {
    Object {
        /// The key whose value comes next (or came last).
        key: Option<String>,
        /// This object's `name` string, the key of its `value` (env entries).
        name: Option<String>,
    },
    Array,
}

/// Where the tokenizer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// A value must come (after `:`, `,` in an array, or at the top level).
    Value,
    /// A value or `]` (after `[`).
    FirstValue,
    /// A key or `}` (after `{`).
    FirstKey,
    /// A key (after `,` in an object).
    Key,
    /// `:`.
    Colon,
    /// `,` or the end of the container; at the top level, the next value.
    After,
    /// Inside a string.
    Str { key: bool, escaped: bool },
    /// Inside a number or literal (`first` is its first byte), `len` bytes so far.
    Scalar { first: u8, len: usize },
}

/// Redacts one JSON response as it streams.
#[derive(Debug)]
pub struct JsonRedactor {
    values: Values,
    stack: Vec<Container>,
    state: State,
    /// The current string's raw bytes from earlier chunks.
    held: Vec<u8>,
    /// Where the current string started in this chunk (`None`: in an earlier one).
    str_start: Option<usize>,
}

impl JsonRedactor {
    /// A redactor for one response.
    pub fn new(redactor: Redactor) -> JsonRedactor {
        JsonRedactor::with_values(Values::new(redactor, 0))
    }

    pub(super) fn with_values(values: Values) -> JsonRedactor {
        JsonRedactor {
            values,
            stack: Vec::new(),
            state: State::Value,
            held: Vec::new(),
            str_start: None,
        }
    }

    /// What was masked so far, taken.
    pub fn take_findings(&mut self) -> Vec<Finding> {
        self.values.take_findings()
    }

    /// Bytes held now (one unfinished string); bounded by [`MAX_STRING_LEN`].
    pub fn held_bytes(&self) -> usize {
        self.held.len()
    }

    /// Feeds `chunk`; what may be shown goes to `out`.
    pub fn push(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) -> Result<(), JsonError> {
        let mut emit_from = 0;
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            match self.state {
                State::Str { key, escaped } => {
                    let start = self.str_start.unwrap_or(0);
                    if self.held.len() + (i - start) >= MAX_STRING_LEN {
                        return fail(format!("a string longer than {MAX_STRING_LEN} bytes"));
                    }
                    if escaped {
                        self.state = State::Str {
                            key,
                            escaped: false,
                        };
                    } else if b == b'\\' {
                        self.state = State::Str { key, escaped: true };
                    } else if b == b'"' {
                        self.end_string(key, &chunk, i, &mut emit_from, out)?;
                    } else if b < 0x20 {
                        return fail("a control character in a string");
                    }
                    i += 1;
                }
                State::Scalar { first, len } if scalar_continues(first, len, b) => {
                    if len >= MAX_SCALAR_LEN {
                        return fail("a number or literal too long");
                    }
                    self.state = State::Scalar {
                        first,
                        len: len + 1,
                    };
                    i += 1;
                }
                State::Scalar { first, len } => {
                    scalar_complete(first, len)?;
                    self.state = State::After;
                    // `b` is read again in the new state.
                }
                _ => {
                    self.structural(b, i)?;
                    i += 1;
                }
            }
        }
        if let State::Str { .. } = self.state {
            let start = self.str_start.take().unwrap_or(0);
            if start > emit_from {
                out.push(chunk.slice(emit_from..start));
            }
            self.held.extend_from_slice(&chunk[start..]);
        } else if emit_from < chunk.len() {
            out.push(chunk.slice(emit_from..));
        }
        Ok(())
    }

    /// Checks that the input ended at the end of a value.
    pub fn finish(&mut self) -> Result<(), JsonError> {
        if let State::Scalar { first, len } = self.state {
            scalar_complete(first, len)?;
        }
        let done = self.stack.is_empty()
            && matches!(
                self.state,
                State::After | State::Value | State::Scalar { .. }
            );
        if done {
            Ok(())
        } else {
            fail("the response ended inside a value")
        }
    }

    fn structural(&mut self, b: u8, i: usize) -> Result<(), JsonError> {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            return Ok(());
        }
        match (self.state, b) {
            (State::Value, _) => self.start_value(b, i),
            (State::FirstValue, b']') => self.close(b),
            (State::FirstValue, _) => self.start_value(b, i),
            (State::FirstKey | State::Key, b'"') => {
                self.start_string(true, i);
                Ok(())
            }
            (State::FirstKey, b'}') => self.close(b),
            (State::Colon, b':') => {
                self.state = State::Value;
                Ok(())
            }
            (State::After, _) => match (b, self.stack.last()) {
                (b',', Some(Container::Object { .. })) => {
                    self.state = State::Key;
                    Ok(())
                }
                (b',', Some(Container::Array)) => {
                    self.state = State::Value;
                    Ok(())
                }
                (b'}' | b']', Some(_)) => self.close(b),
                (_, None) => self.start_value(b, i),
                _ => fail(format!("unexpected `{}`", b.escape_ascii())),
            },
            _ => fail(format!("unexpected `{}`", b.escape_ascii())),
        }
    }

    fn start_value(&mut self, b: u8, i: usize) -> Result<(), JsonError> {
        match b {
            b'{' | b'[' => {
                if self.stack.len() >= MAX_DEPTH {
                    return fail(format!("nested deeper than {MAX_DEPTH}"));
                }
                if b == b'{' {
                    self.stack.push(Container::Object {
                        key: None,
                        name: None,
                    });
                    self.state = State::FirstKey;
                } else {
                    self.stack.push(Container::Array);
                    self.state = State::FirstValue;
                }
            }
            b'"' => self.start_string(false, i),
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                self.state = State::Scalar { first: b, len: 1 }
            }
            _ => return fail(format!("unexpected `{}`", b.escape_ascii())),
        }
        Ok(())
    }

    fn start_string(&mut self, key: bool, i: usize) {
        self.state = State::Str {
            key,
            escaped: false,
        };
        self.str_start = Some(i);
        self.held.clear();
    }

    fn close(&mut self, b: u8) -> Result<(), JsonError> {
        match (self.stack.pop(), b) {
            (Some(Container::Object { .. }), b'}') | (Some(Container::Array), b']') => {
                self.state = State::After;
                Ok(())
            }
            _ => fail(format!("unmatched `{}`", b.escape_ascii())),
        }
    }

    /// A string ends at `chunk[end]`: keep a key as context, redact a value.
    fn end_string(
        &mut self,
        key: bool,
        chunk: &Bytes,
        end: usize,
        emit_from: &mut usize,
        out: &mut Vec<Bytes>,
    ) -> Result<(), JsonError> {
        let start = self.str_start.take();
        let mut raw = std::mem::take(&mut self.held);
        raw.extend_from_slice(&chunk[start.unwrap_or(0)..=end]);
        let text: String = serde_json::from_slice(&raw)
            .map_err(|e| JsonError(format!("an invalid string: {e}")))?;
        if key {
            if let Some(Container::Object { key, .. }) = self.stack.last_mut() {
                *key = (text.len() <= MAX_KEY_LEN).then_some(text);
            }
            self.state = State::Colon;
        } else {
            let replaced = self.values.redact(&text, self.context().as_deref());
            if let Some(Container::Object { key, name }) = self.stack.last_mut()
                && key.as_deref() == Some("name")
            {
                *name = (text.len() <= MAX_KEY_LEN).then_some(text);
            }
            self.state = State::After;
            if let Some(new) = replaced {
                if let Some(s) = start
                    && s > *emit_from
                {
                    out.push(chunk.slice(*emit_from..s));
                }
                let encoded = serde_json::to_vec(&new)
                    .map_err(|e| JsonError(format!("re-encoding a value: {e}")))?;
                out.push(Bytes::from(encoded));
                *emit_from = end + 1;
                return Ok(());
            }
        }
        if start.is_none() {
            // The string began in an earlier chunk: its earlier bytes go out now, the rest of
            // it is in this chunk's pass-through span (nothing of this chunk is out yet).
            raw.truncate(raw.len() - (end + 1));
            out.push(Bytes::from(raw));
        }
        Ok(())
    }

    /// The key a string value belongs to: its object key (in an `{name, value}` entry, the
    /// name), or for an array element, the key of the array.
    fn context(&self) -> Option<String> {
        let mut frames = self.stack.iter().rev();
        match frames.next()? {
            Container::Object { key, name } => match (key.as_deref(), name) {
                (Some("value"), Some(name)) => Some(name.clone()),
                _ => key.clone(),
            },
            Container::Array => match frames.next()? {
                Container::Object { key, .. } => key.clone(),
                Container::Array => None,
            },
        }
    }
}

/// The literal a scalar starting with `first` must spell, if it is one.
fn literal(first: u8) -> Option<&'static [u8]> {
    match first {
        b't' => Some(b"true"),
        b'f' => Some(b"false"),
        b'n' => Some(b"null"),
        _ => None,
    }
}

/// Whether `b` continues a scalar of `len` bytes starting with `first`.
fn scalar_continues(first: u8, len: usize, b: u8) -> bool {
    match literal(first) {
        Some(lit) => lit.get(len) == Some(&b),
        None => b.is_ascii_digit() || b"+-.eE".contains(&b),
    }
}

/// Checks a scalar that ended after `len` bytes.
fn scalar_complete(first: u8, len: usize) -> Result<(), JsonError> {
    match literal(first) {
        Some(lit) if lit.len() != len => fail("an unknown literal"),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
