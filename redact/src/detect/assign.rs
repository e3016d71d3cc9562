//! `key = value` assignments in text, env files, JSON, YAML, URLs and CLI
//! flags, where the key names a secret.
//!
//! The trigger is a keyword inside the key (`password`, `secret`, `token`,
//! `_key`, …). The verifier widens it to the whole key identifier, classifies
//! the key by its words (camelCase, `_`, `-`, `.` separate words), parses the
//! separator and the (possibly quoted) value, and masks only the value.
//!
//! - *Strong* keys (password, passwd, passphrase, secret, credential,
//!   private_key): any value that is not a placeholder is masked.
//! - *Weak* keys (token, api_key, access_key, …): the value must pass the
//!   entropy test ([`crate::entropy::is_high_entropy`]) and must not have an
//!   identifier shape (UUID, digest, pod-name-like).
//! - Keys whose last word says the value is not the secret itself (`_id`,
//!   `Name`, `Ref`, `_type`, `_file`, …) are ignored.
//!
//! Unquoted values after `:` that are a single plain word are masked only
//! when the key starts its line (YAML), so prose like "invalid password:
//! connection refused" keeps its words.

use super::Found;
use crate::entropy::is_high_entropy;
use crate::hay::{Hay, NeedMore, is_key_char};
use crate::rules::Builtin;

/// How far back from the trigger the key identifier is followed.
pub(super) const KEY_BACK_MAX: usize = 48;
/// How far forward from the trigger end the key identifier is followed.
pub(super) const KEY_FWD_MAX: usize = 48;
/// Longest value read. A quoted value with no closing quote within this
/// bound is masked up to the bound (fail closed).
pub(super) const VALUE_MAX: usize = 4096;
/// Forward window of this detector past the trigger end.
pub(super) const WINDOW: usize = KEY_FWD_MAX + 2 + 8 + 2 + 8 + 2 + VALUE_MAX + 2;
/// Backward context this detector reads (key and line start).
pub(super) const BACK: usize = KEY_BACK_MAX + 16;

/// Last words of a key that name metadata about a secret, not the secret.
const NOT_SECRET_WORDS: &[&[u8]] = &[
    b"id",
    b"ids",
    b"name",
    b"names",
    b"type",
    b"count",
    b"length",
    b"len",
    b"size",
    b"file",
    b"path",
    b"dir",
    b"url",
    b"uri",
    b"endpoint",
    b"ttl",
    b"expiry",
    b"expires",
    b"expiration",
    b"exp",
    b"ref",
    b"version",
    b"policy",
    b"field",
    b"header",
    b"prefix",
    b"suffix",
    b"format",
    b"enabled",
    b"required",
    b"timeout",
    b"at",
    b"time",
    b"age",
    b"mode",
    b"source",
    b"hint",
    b"label",
    b"kind",
    b"env",
    b"provider",
    b"store",
    b"manager",
    b"rotation",
    b"used",
];

/// True for values that stand for "no secret here".
pub(crate) fn is_placeholder(v: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"null",
        b"none",
        b"nil",
        b"true",
        b"false",
        b"undefined",
        b"redacted",
        b"<redacted>",
        b"%s",
        b"?",
        b"-",
        b"$",
    ];
    v.is_empty()
        || WORDS.iter().any(|w| v.eq_ignore_ascii_case(w))
        || v.iter().all(|&b| b == b'*')
        || v.iter().all(|&b| b == b'x' || b == b'X')
        || v.starts_with(b"${")
        || v.starts_with(b"{{")
        || v.starts_with(b"$(")
        || v.starts_with(b"[REDACTED")
        || (v.starts_with(b"<") && v.ends_with(b">"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strength {
    Strong(Builtin),
    Weak,
}

/// Splits a key into lowercase words and classifies it.
fn classify(key: &[u8]) -> Option<Strength> {
    let mut lower = [0u8; KEY_BACK_MAX + KEY_FWD_MAX + 16];
    let lower = &mut lower[..key.len()];
    lower.copy_from_slice(key);
    lower.make_ascii_lowercase();
    // Start of the last word: after the last separator or camelCase hump.
    let mut last = 0;
    for i in 1..key.len() {
        let separator = matches!(key[i - 1], b'_' | b'-' | b'.');
        let hump = key[i].is_ascii_uppercase() && key[i - 1].is_ascii_lowercase();
        if separator || hump {
            last = i;
        }
    }
    let last_word = &lower[last..];
    if NOT_SECRET_WORDS.contains(&last_word) || lower == b"pwd" || lower == b"oldpwd" {
        return None;
    }
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if has(b"secret_access_key") || has(b"secretaccesskey") || has(b"secret-access-key") {
        return Some(Strength::Strong(Builtin::AwsSecretAccessKey));
    }
    if lower.ends_with(b"accountkey") || lower.ends_with(b"sharedaccesskey") {
        return Some(Strength::Strong(Builtin::AzureStorageKey));
    }
    if lower.ends_with(b"private_key") || lower.ends_with(b"privatekey") {
        return Some(Strength::Strong(Builtin::GcpServiceAccountKey));
    }
    let strong = [
        &b"password"[..],
        b"passwd",
        b"passphrase",
        b"secret",
        b"credential",
        b"pwd",
    ];
    if strong.iter().any(|w| has(w)) {
        return Some(Strength::Strong(Builtin::SecretAssignment));
    }
    let weak = has(b"token")
        || last_word == b"key"
        || lower.ends_with(b"apikey")
        || lower.ends_with(b"accesskey");
    weak.then_some(Strength::Weak)
}

/// True when only indentation (or a YAML list dash) precedes `start` on its line.
fn starts_line(hay: Hay<'_>, start: usize) -> bool {
    let mut j = start;
    while j > 0 && start - j < 16 && matches!(hay.bytes[j - 1], b' ' | b'\t' | b'-') {
        j -= 1;
    }
    j == 0 || matches!(hay.bytes[j - 1], b'\n' | b'\r')
}

fn is_quote(b: Option<u8>) -> bool {
    matches!(b, Some(b'"' | b'\''))
}

fn unquoted_char(b: u8) -> bool {
    b > b' '
        && !matches!(
            b,
            b'"' | b'\''
                | b'`'
                | b','
                | b';'
                | b'&'
                | b'<'
                | b'>'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'\\'
        )
}

/// Verifies a keyword hit `[at, trigger_end)`: the secret, if any, and the
/// end of the value parsed, if one was.
pub(super) fn assignment(
    hay: Hay<'_>,
    at: usize,
    trigger_end: usize,
) -> Result<(Option<Found>, Option<usize>), NeedMore> {
    let Some((start, end, strength, rule, key)) = parse(hay, at, trigger_end)? else {
        return Ok((None, None));
    };
    let v = hay.slice(start, end);
    let vendor = super::keyed::by_key_and_shape(hay.slice(key.0, key.1), v);
    let found = |rule: Builtin| {
        Some(Found {
            start,
            end,
            rule: rule.idx(),
        })
    };
    let verdict = match strength {
        _ if is_placeholder(v) => None,
        _ if vendor.is_some() => vendor.and_then(found),
        Strength::Strong(_) => found(rule),
        Strength::Weak if is_high_entropy(v) => found(Builtin::HighEntropySecret),
        Strength::Weak => None,
    };
    Ok((verdict, Some(end)))
}

/// A parsed assignment: value start, value end, key strength, strong rule, key span.
type Parsed = (usize, usize, Strength, Builtin, (usize, usize));

/// Parses key, separator and value. `None` when this is not an assignment
/// of a secret-like key, or a prose word after `key:`.
fn parse(hay: Hay<'_>, at: usize, trigger_end: usize) -> Result<Option<Parsed>, NeedMore> {
    let mut key_start = at;
    while key_start > 0 && at - key_start < KEY_BACK_MAX && is_key_char(hay.bytes[key_start - 1]) {
        key_start -= 1;
    }
    let key_end = trigger_end + hay.run(trigger_end, KEY_FWD_MAX, is_key_char)?;
    // Closing quote of a JSON/YAML key, possibly escaped (`\"`).
    let mut i = key_end;
    if hay.at(i)? == Some(b'\\') && is_quote(hay.at(i + 1)?) {
        i += 2;
    } else if is_quote(hay.at(i)?) {
        i += 1;
    }
    i += hay.run(i, 8, |b| b == b' ' || b == b'\t')?;
    let colon = match (hay.at(i)?, hay.at(i + 1)?) {
        (Some(b':'), Some(b'=')) | (Some(b'='), Some(b'>')) => {
            i += 2;
            false
        }
        (Some(b'='), Some(b'=')) => return Ok(None),
        (Some(b'='), _) => {
            i += 1;
            false
        }
        (Some(b':'), _) => {
            i += 1;
            true
        }
        _ => return Ok(None),
    };
    // Classified only once a separator shows this is an assignment.
    let Some(strength) = classify(hay.slice(key_start, key_end)) else {
        return Ok(None);
    };
    i += hay.run(i, 8, |b| b == b' ' || b == b'\t')?;
    let (start, end, quoted) = match value(hay, i)? {
        Some(v) => v,
        None => return Ok(None),
    };
    let v = hay.slice(start, end);
    let rule = match strength {
        Strength::Strong(Builtin::GcpServiceAccountKey) if !v.starts_with(b"-----BEGIN") => {
            Builtin::SecretAssignment
        }
        Strength::Strong(rule) => {
            let plain_word = v.iter().all(u8::is_ascii_alphabetic);
            if colon && !quoted && plain_word && !starts_line(hay, key_start) {
                return Ok(None);
            }
            rule
        }
        Strength::Weak => Builtin::HighEntropySecret,
    };
    Ok(Some((start, end, strength, rule, (key_start, key_end))))
}

/// Parses a value at `i`: `(start, end, quoted)`.
fn value(hay: Hay<'_>, i: usize) -> Result<Option<(usize, usize, bool)>, NeedMore> {
    let escaped = hay.at(i)? == Some(b'\\') && is_quote(hay.at(i + 1)?);
    let (q, start) = match (escaped, hay.at(i)?) {
        (true, _) => (hay.bytes[i + 1], i + 2),
        (false, Some(b @ (b'"' | b'\''))) => (b, i + 1),
        _ => {
            let n = hay.run(i, VALUE_MAX, unquoted_char)?;
            return Ok((n > 0).then_some((i, i + n, false)));
        }
    };
    let mut j = start;
    while j < start + VALUE_MAX {
        match hay.at(j)? {
            None | Some(b'\n') => return Ok(None),
            Some(b'\\') if escaped && hay.at(j + 1)? == Some(q) => {
                return Ok(Some((start, j, true)));
            }
            Some(b'\\') => j += 2,
            Some(b) if b == q && !escaped => return Ok(Some((start, j, true))),
            Some(_) => j += 1,
        }
    }
    // No closing quote within the bound: fail closed.
    Ok(Some((start, start + VALUE_MAX, true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_classes() {
        assert_eq!(
            classify(b"DB_PASSWORD"),
            Some(Strength::Strong(Builtin::SecretAssignment))
        );
        assert_eq!(classify(b"secretName"), None);
        assert_eq!(classify(b"secretKeyRef"), None);
        assert_eq!(classify(b"token_type"), None);
        assert_eq!(classify(b"private_key_id"), None);
        assert_eq!(classify(b"PWD"), None);
        assert_eq!(classify(b"x-api-key"), Some(Strength::Weak));
        assert_eq!(classify(b"nextPageToken"), Some(Strength::Weak));
        assert_eq!(classify(b"Keyboard"), None);
        assert_eq!(
            classify(b"aws_secret_access_key"),
            Some(Strength::Strong(Builtin::AwsSecretAccessKey))
        );
    }
}
