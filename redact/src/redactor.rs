//! The compiled rule set ([`Redactor`]) and its builder.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::{MAX_MASK_LEN, RulesFile};
use crate::detect::{Detectors, PEM_MAX};
use crate::error::{BuildError, ProblemKind};
use crate::finding::Finding;
use crate::rules::{BUILTIN_RULES, RuleIdx};
use crate::stream::{MAX_REGION, StreamRedactor};

/// Default mask template; `{rule}` becomes the rule id.
pub const DEFAULT_MASK: &str = "[REDACTED:{rule}]";

/// Builds a [`Redactor`].
///
/// ```
/// let redactor = redact::RedactorBuilder::new()
///     .builtin(true)
///     .mask("<{rule}>")
///     .fingerprint_key(b"deployment key")
///     .build()
///     .unwrap();
/// let (out, findings) = redactor.redact_all(b"password=hunter2 ok");
/// assert_eq!(out, b"password=<secret-assignment> ok");
/// assert_eq!(findings[0].offset, 9);
/// ```
#[derive(Clone, Default)]
pub struct RedactorBuilder {
    builtin: Option<bool>,
    mask: Option<String>,
    key: Option<Vec<u8>>,
    file: RulesFile,
}

impl fmt::Debug for RedactorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactorBuilder")
            .field("builtin", &self.builtin)
            .field("mask", &self.mask)
            .field("fingerprint_key", &self.key.as_ref().map(|_| "<set>"))
            .field("user_rules", &self.file.rules.len())
            .finish()
    }
}

impl RedactorBuilder {
    /// A builder with the built-in rules, the default mask and no fingerprint key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enables or disables the built-in detectors (default: enabled, or as
    /// the rules file says).
    pub fn builtin(&mut self, yes: bool) -> &mut Self {
        self.builtin = Some(yes);
        self
    }

    /// Adds the user rules, allow-list, mask and `builtin` flag of a rules file.
    /// Options set directly on the builder take precedence.
    pub fn rules(&mut self, file: RulesFile) -> &mut Self {
        self.file = file;
        self
    }

    /// Sets the mask template; `{rule}` is replaced by the rule id.
    /// Example: `.mask("***")`, `.mask("<{rule}>")`.
    pub fn mask(&mut self, template: impl Into<String>) -> &mut Self {
        self.mask = Some(template.into());
        self
    }

    /// Sets the deployment key for finding fingerprints (HMAC-SHA256).
    /// Without a key, findings carry no fingerprint.
    pub fn fingerprint_key(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        self.key = Some(key.as_ref().to_vec());
        self
    }

    /// Compiles the rules. Lists every problem, including rules that cannot
    /// stream correctly ([`BuildError::is_unstreamable`]).
    pub fn build(&self) -> Result<Redactor, BuildError> {
        let builtin = self.builtin.unwrap_or(self.file.builtin);
        let template = self.mask.clone().or_else(|| self.file.mask.clone());
        let template = template.unwrap_or_else(|| DEFAULT_MASK.to_string());
        if template.len() > MAX_MASK_LEN {
            return Err(BuildError::one(
                "mask",
                ProblemKind::Value,
                format!("longer than {MAX_MASK_LEN} bytes"),
            ));
        }
        let (user, allow) = self.file.compile(BUILTIN_RULES.len())?;
        let mut rules: Vec<RuleMeta> = BUILTIN_RULES
            .iter()
            .map(|(id, _)| RuleMeta::new(id, &template))
            .collect();
        rules.extend(
            self.file
                .rules
                .iter()
                .map(|r| RuleMeta::new(&r.id, &template)),
        );
        let detectors = Detectors::new(builtin, user, allow)
            .map_err(|e| BuildError::one("rules", ProblemKind::Value, e.to_string()))?;
        Ok(Redactor {
            inner: Arc::new(Inner {
                detectors,
                rules,
                key: self.key.clone(),
            }),
        })
    }
}

#[derive(Debug)]
struct RuleMeta {
    id: Arc<str>,
    mask: Bytes,
}

impl RuleMeta {
    fn new(id: &str, template: &str) -> Self {
        Self {
            id: Arc::from(id),
            mask: Bytes::from(template.replace("{rule}", id)),
        }
    }
}

struct Inner {
    detectors: Detectors,
    rules: Vec<RuleMeta>,
    key: Option<Vec<u8>>,
}

/// A compiled rule set, built once and shared by every stream. Cloning is
/// cheap (an `Arc`).
#[derive(Clone)]
pub struct Redactor {
    inner: Arc<Inner>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("rules", &self.inner.rules.len())
            .field("fingerprint_key", &self.inner.key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Redactor {
    /// Starts a stream.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor::new(self.clone())
    }

    /// Redacts a whole input at once; the same result as any chunked run.
    pub fn redact_all(&self, input: &[u8]) -> (Vec<u8>, Vec<Finding>) {
        let mut stream = self.stream();
        let (mut out, mut findings) = (Vec::new(), Vec::new());
        stream.push(Bytes::copy_from_slice(input), &mut out, &mut findings);
        stream.finish(&mut out, &mut findings);
        (out.concat(), findings)
    }

    /// Ids of every rule, built-in then user rules.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.inner.rules.iter().map(|r| &*r.id)
    }

    /// Upper bound on the bytes a stream holds back between calls
    /// (its carry-over), whatever the input.
    pub fn max_carry(&self) -> usize {
        let d = &self.inner.detectors;
        d.max_window() + d.back_mask() + MAX_REGION
    }

    /// Longest private key block masked as one unit.
    pub fn pem_max(&self) -> usize {
        PEM_MAX
    }

    pub(crate) fn detectors(&self) -> &Detectors {
        &self.inner.detectors
    }

    pub(crate) fn fingerprint_key(&self) -> Option<&[u8]> {
        self.inner.key.as_deref()
    }

    pub(crate) fn mask(&self, rule: RuleIdx) -> Bytes {
        self.inner.rules[usize::from(rule)].mask.clone()
    }

    pub(crate) fn rule_id(&self, rule: RuleIdx) -> Arc<str> {
        self.inner.rules[usize::from(rule)].id.clone()
    }
}
