//! User rules: a bounded regex that runs only in a window around its keywords.
//!
//! For a keyword hit `[at, end)` the window is `[at - L, end + L)`, where `L`
//! is the regex's maximum match length. The first match in the window that
//! ends after `at`, passes the entropy threshold and is not allow-listed is
//! the finding; a named group `secret` narrows the masked span. The window is
//! a function of the hit position only, so the result does not depend on
//! where chunks split.

use regex::bytes::Regex;

use super::Found;
use crate::entropy::shannon;
use crate::hay::{Hay, NeedMore};
use crate::rules::RuleIdx;

/// A compiled, validated user rule.
#[derive(Debug, Clone)]
pub(crate) struct UserRule {
    pub(crate) rule: RuleIdx,
    pub(crate) regex: Regex,
    pub(crate) keywords: Vec<String>,
    /// Longest match the regex can produce, in bytes.
    pub(crate) max_len: usize,
    pub(crate) secret_group: Option<usize>,
    pub(crate) min_entropy: Option<f64>,
    pub(crate) allow: Vec<Regex>,
}

impl UserRule {
    pub(crate) fn keywords(&self) -> impl Iterator<Item = &str> {
        self.keywords.iter().map(String::as_str)
    }

    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    /// Forward window from a hit start.
    pub(crate) fn window(&self, keyword_len: usize) -> usize {
        keyword_len + self.max_len + 1
    }

    pub(crate) fn verify(
        &self,
        hay: Hay<'_>,
        at: usize,
        end: usize,
    ) -> Result<Option<Found>, NeedMore> {
        let lo = at.saturating_sub(self.max_len);
        let want = end + self.max_len;
        // One byte past the window lets `\b`/`$` see what follows.
        let hi = match hay.bytes.len() {
            n if n > want => want + 1,
            _ if !hay.eof => return Err(NeedMore),
            n => n,
        };
        let window = &hay.bytes[..hi];
        let mut pos = lo;
        while pos <= want {
            let Some(m) = self.regex.find_at(window, pos) else {
                break;
            };
            if m.start() > want {
                break;
            }
            pos = if m.end() > m.start() {
                m.end()
            } else {
                m.end() + 1
            };
            if m.end() <= at || m.end() > want || m.is_empty() {
                continue;
            }
            let (start, stop) = match self.secret_group {
                Some(g) => match self
                    .regex
                    .captures_at(window, m.start())
                    .and_then(|c| c.get(g))
                {
                    Some(s) if !s.is_empty() => (s.start(), s.end()),
                    _ => continue,
                },
                None => (m.start(), m.end()),
            };
            let secret = &window[start..stop];
            if self.min_entropy.is_some_and(|min| shannon(secret) < min) {
                continue;
            }
            if self.allow.iter().any(|a| a.is_match(secret)) {
                continue;
            }
            return Ok(Some(Found {
                start,
                end: stop,
                rule: self.rule,
            }));
        }
        Ok(None)
    }
}
