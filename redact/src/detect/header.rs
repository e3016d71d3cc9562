//! Credentials in HTTP and command-line syntax: an `Authorization` header of any scheme,
//! `curl -u user:password`, and the `sig=` parameter of an Azure shared access signature.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Found;
use super::assign::is_placeholder;
use crate::entropy::is_high_entropy;
use crate::hay::{Hay, NeedMore, is_b64url};
use crate::rules::Builtin;

/// Longest header value or `-u` argument read.
pub(super) const VALUE_MAX: usize = 4096;
/// Longest `sig=` value read (a URL-encoded 44-character base64 HMAC is at most 56).
const SIG_MAX: usize = 128;

/// Trigger anchors of `Authorization` headers (HTTP/1 and HTTP/2 spellings, JSON keys) and
/// the prefixes before them: `auth` alone is everywhere in Kubernetes output
/// (`authorization.k8s.io`), `rization:` is not.
pub(super) const AUTH_TRIGGERS: &[(&str, &[&str])] = &[
    ("rization:", &["Autho", "autho"]),
    ("RIZATION:", &["AUTHO"]),
    ("rization\":", &["\"Autho", "\"autho"]),
];
/// Trigger literals of `curl --user`; `-u ` is a short trigger.
/// No leading space: a prompt ending in a space must not be held as a trigger's start.
pub(super) const CURL_TRIGGERS: &[&str] = &["--user ", "--user="];

fn found(start: usize, end: usize, rule: Builtin) -> Option<Found> {
    Some(Found {
        start,
        end,
        rule: rule.idx(),
    })
}

/// `Authorization: <scheme> <credential>` for schemes other than Bearer and Basic (their own
/// triggers decide those), or a bare credential. The credential runs to the end of the
/// line or the closing quote; it must be 8+ bytes with a digit, or random-looking.
pub(super) fn authorization(
    hay: Hay<'_>,
    at: usize,
    trigger_end: usize,
) -> Result<Option<Found>, NeedMore> {
    if hay.before(at).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let mut i = trigger_end + hay.run(trigger_end, 8, |b| b == b' ' || b == b'\t')?;
    let quote = match hay.at(i)? {
        Some(q @ (b'"' | b'\'')) => {
            i += 1;
            Some(q)
        }
        _ => None,
    };
    for scheme in [&b"Bearer "[..], b"bearer ", b"Basic ", b"basic "] {
        if hay.has(i, scheme)? {
            return Ok(None);
        }
    }
    let stop =
        |b: u8| !matches!(b, b'\r' | b'\n') && Some(b) != quote && (quote.is_some() || b != b'"');
    let n = hay.run(i, VALUE_MAX, stop)?;
    let value = hay.slice(i, i + n);
    let trimmed = value.len()
        - value
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    let value = &value[..trimmed];
    // The scheme is a public word; the credential follows its space.
    let scheme = value.iter().take_while(|&&b| is_b64url(b)).count();
    let start = match value.get(scheme) {
        Some(b' ') => i + scheme + 1,
        _ => i,
    };
    let cred = hay.slice(start, i + trimmed);
    let token_like = cred.len() >= 8
        && (cred.iter().any(u8::is_ascii_digit) || is_high_entropy(cred))
        && !is_placeholder(cred);
    Ok(match token_like {
        true => found(start, i + trimmed, Builtin::AuthorizationHeader),
        false => None,
    })
}

/// `curl -u user:password` / `--user user:password` / `--user=…`: the password is masked.
pub(super) fn curl_user(
    hay: Hay<'_>,
    at: usize,
    trigger_end: usize,
) -> Result<Option<Found>, NeedMore> {
    if !matches!(hay.before(at), Some(b' ' | b'\t')) {
        return Ok(None);
    }
    let mut i = trigger_end;
    let quote = match hay.at(i)? {
        Some(q @ (b'"' | b'\'')) => {
            i += 1;
            Some(q)
        }
        _ => None,
    };
    let arg = |b: u8| match quote {
        Some(q) => b != q && b != b'\n',
        None => b > b' ' && !matches!(b, b'"' | b'\'' | b';' | b'&' | b'|'),
    };
    let n = hay.run(i, VALUE_MAX, arg)?;
    let value = hay.slice(i, i + n);
    let Some(colon) = value.iter().position(|&b| b == b':') else {
        return Ok(None);
    };
    let password = &value[colon + 1..];
    Ok(
        match colon > 0 && !password.is_empty() && !is_placeholder(password) {
            true => found(i + colon + 1, i + n, Builtin::CurlUserPassword),
            false => None,
        },
    )
}

/// `?…&sig=<URL-encoded base64 of a 32-byte HMAC>`: checked by decoding.
pub(super) fn sas_signature(
    hay: Hay<'_>,
    at: usize,
    prefix: usize,
) -> Result<Option<Found>, NeedMore> {
    if !matches!(
        hay.before(at),
        Some(b'?' | b'&' | b';' | b' ' | b'"' | b'\'') | None
    ) {
        return Ok(None);
    }
    let start = at + prefix;
    let pred = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'+' | b'/' | b'=');
    let n = hay.run(start, SIG_MAX + 1, pred)?;
    if !(40..=SIG_MAX).contains(&n) {
        return Ok(None);
    }
    let decoded = percent_decode(hay.slice(start, start + n));
    Ok(match STANDARD.decode(decoded) {
        Ok(mac) if mac.len() == 32 => found(start, start + n, Builtin::AzureSasSignature),
        _ => None,
    })
}

/// `%2B`, `%2F`, `%3D` (either case) decoded; other bytes kept.
fn percent_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let esc = v.get(i + 1..i + 3).map(|h| h.to_ascii_uppercase());
        match (v[i], esc.as_deref()) {
            (b'%', Some(b"2B")) => out.push(b'+'),
            (b'%', Some(b"2F")) => out.push(b'/'),
            (b'%', Some(b"3D")) => out.push(b'='),
            (b, _) => {
                out.push(b);
                i += 1;
                continue;
            }
        }
        i += 3;
    }
    out
}
