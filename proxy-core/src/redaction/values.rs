//! One JSON string value, redacted with the context a person would use.
//!
//! - The text itself goes through the redactor (keys, tokens, URLs with passwords, PEM
//!   blocks are found wherever they are).
//! - With a context key, the value is then redacted as that key's value in a JSON object
//!   (`{"DB_PASSWORD": "…"}`), so an assignment rule masks it as it would `password=…`.
//!   If the redactor changed more than the value there, the whole value is masked.
//! - A value that is itself JSON (`last-applied-configuration`) is redacted as JSON, value
//!   by value, up to [`MAX_EMBEDDED`] levels; if it does not parse, as text.

use bytes::Bytes;
use redact::{Finding, Redactor};
use serde_json::{Map, Value};

use super::json::JsonRedactor;

/// How many levels of JSON-in-a-string are redacted as JSON.
pub const MAX_EMBEDDED: usize = 2;

/// What replaces a value whose redaction could not be read back.
pub const WHOLE_VALUE_MASK: &str = "[REDACTED:read-value]";

/// Redacts string values, collecting findings.
#[derive(Debug)]
pub(super) struct Values {
    redactor: Redactor,
    embedded: usize,
    findings: Vec<Finding>,
}

impl Values {
    pub(super) fn new(redactor: Redactor, embedded: usize) -> Values {
        Values {
            redactor,
            embedded,
            findings: Vec::new(),
        }
    }

    pub(super) fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// The redacted value, or `None` when nothing changed.
    pub(super) fn redact(&mut self, text: &str, context: Option<&str>) -> Option<String> {
        let trimmed = text.trim_start();
        if self.embedded < MAX_EMBEDDED
            && (trimmed.starts_with('{') || trimmed.starts_with('['))
            && let Some(redacted) = self.embedded_json(text)
        {
            return (redacted != text).then_some(redacted);
        }
        let (bytes, found) = self.redactor.redact_all(text.as_bytes());
        self.findings.extend(found);
        let plain = String::from_utf8_lossy(&bytes).into_owned();
        let keyed = match context {
            Some(key) => self.keyed(key, &plain),
            None => plain,
        };
        (keyed != text).then_some(keyed)
    }

    /// `value` redacted as the value of `key` in a JSON object.
    fn keyed(&mut self, key: &str, value: &str) -> String {
        let mut object = Map::new();
        object.insert(key.to_string(), Value::String(value.to_string()));
        let Ok(json) = serde_json::to_vec(&object) else {
            return WHOLE_VALUE_MASK.into();
        };
        let (bytes, found) = self.redactor.redact_all(&json);
        if bytes == json {
            return value.to_string();
        }
        self.findings.extend(found);
        let back: Option<Map<String, Value>> = serde_json::from_slice(&bytes).ok();
        match back
            .as_ref()
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
        {
            Some(masked) if back.as_ref().is_some_and(|m| m.len() == 1) => masked.to_string(),
            _ => WHOLE_VALUE_MASK.into(),
        }
    }

    /// `text` redacted as JSON, or `None` if it is not JSON.
    fn embedded_json(&mut self, text: &str) -> Option<String> {
        let values = Values::new(self.redactor.clone(), self.embedded + 1);
        let mut inner = JsonRedactor::with_values(values);
        let mut out = Vec::new();
        inner
            .push(Bytes::copy_from_slice(text.as_bytes()), &mut out)
            .ok()?;
        inner.finish().ok()?;
        self.findings.extend(inner.take_findings());
        String::from_utf8(out.concat()).ok()
    }
}
