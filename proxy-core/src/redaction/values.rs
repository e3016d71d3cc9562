//! One JSON string value, redacted with the context a person would use.
//!
//! - The text itself goes through the redactor (keys, tokens, URLs with passwords, PEM
//!   blocks are found wherever they are).
//! - With a context key, the value is then redacted as that key's value in a JSON object
//!   (`{"DB_PASSWORD": "…"}`), so an assignment rule masks it as it would `password=…`.
//!   If the redactor changed more than the value there, the whole value is masked.
//! - A value that is itself JSON (`last-applied-configuration`) is redacted as JSON, value
//!   by value, up to [`MAX_EMBEDDED`] levels, by the JSON redactor (`super::json`), which
//!   asks [`Values::may_embed`] first; if it does not parse, as text.

use redact::{Finding, Redactor};
use serde_json::{Map, Value};

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

    /// Whether `text` may be JSON to redact value by value (an embedding level is left).
    pub(super) fn may_embed(&self, text: &str) -> bool {
        let trimmed = text.trim_start();
        self.embedded < MAX_EMBEDDED && (trimmed.starts_with('{') || trimmed.starts_with('['))
    }

    /// The values of one embedded JSON document: the same redactor, one level deeper.
    pub(super) fn nested(&self) -> Values {
        Values::new(self.redactor.clone(), self.embedded + 1)
    }

    /// Findings of an embedded document's values, kept with this level's.
    pub(super) fn absorb(&mut self, found: Vec<Finding>) {
        self.findings.extend(found);
    }

    /// The redacted text value, or `None` when nothing changed (embedded JSON is handled by
    /// the JSON redactor, which owns the parser, before it asks here).
    pub(super) fn redact(&mut self, text: &str, context: Option<&str>) -> Option<String> {
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
}
