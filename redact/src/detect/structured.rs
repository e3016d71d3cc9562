//! Credentials recognised by structure: JWTs, `Authorization` schemes, PEM
//! private key blocks, URL user-info passwords and Azure connection strings.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

use super::Found;
use super::assign::is_placeholder;
use crate::entropy::is_high_entropy;
use crate::hay::{Hay, NeedMore, is_b64url, token_boundary};
use crate::rules::Builtin;

/// Longest JWT segment read (header and signature; the payload gets 4×).
pub(super) const JWT_SEGMENT_MAX: usize = 2048;
/// Longest `Bearer`/`Basic` credential read.
pub(super) const AUTH_CREDENTIAL_MAX: usize = 4096;
/// Longest PEM private key block, BEGIN to END, that is masked as one unit.
/// A block with no END line within this bound is masked up to the bound
/// (fail closed): real keys, even RSA-8192, are under 7 KiB.
pub const PEM_MAX: usize = 32 * 1024;
/// Longest URL user name and password read.
pub(super) const URL_PART_MAX: usize = 256;

fn found(start: usize, end: usize, rule: Builtin) -> Option<Found> {
    Some(Found {
        start,
        end,
        rule: rule.idx(),
    })
}

/// `eyJ…` `.` `…` `.` `…`: three base64url segments, header and payload ≥ 10.
pub(super) fn jwt(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    if !token_boundary(hay.before(at)) {
        return Ok(None);
    }
    let header = hay.run(at, JWT_SEGMENT_MAX, is_b64url)?;
    if header < 10 || hay.at(at + header)? != Some(b'.') {
        return Ok(None);
    }
    let p = at + header + 1;
    let payload = hay.run(p, 4 * JWT_SEGMENT_MAX, is_b64url)?;
    if payload < 10 || hay.at(p + payload)? != Some(b'.') {
        return Ok(None);
    }
    let s = p + payload + 1;
    let signature = hay.run(s, JWT_SEGMENT_MAX, is_b64url)?;
    Ok(found(at, s + signature, Builtin::Jwt))
}

fn is_credential_char(b: u8) -> bool {
    is_b64url(b) || matches!(b, b'.' | b'~' | b'+' | b'/' | b'=')
}

/// `Bearer <token>` / `Basic <base64(user:password)>`; the trigger includes
/// the space. The scheme must not be glued to a preceding letter.
pub(super) fn authorization(
    hay: Hay<'_>,
    at: usize,
    trigger_end: usize,
    basic: bool,
) -> Result<Option<Found>, NeedMore> {
    if hay.before(at).is_some_and(|b| b.is_ascii_alphabetic()) {
        return Ok(None);
    }
    let start = trigger_end + hay.run(trigger_end, 4, |b| b == b' ')?;
    let n = hay.run(start, AUTH_CREDENTIAL_MAX, is_credential_char)?;
    if n < 8 {
        return Ok(None);
    }
    let cred = hay.slice(start, start + n);
    if basic {
        let decoded = STANDARD
            .decode(cred)
            .or_else(|_| STANDARD_NO_PAD.decode(cred));
        return Ok(match decoded {
            Ok(plain) if plain.contains(&b':') => found(start, start + n, Builtin::BasicAuth),
            _ => None,
        });
    }
    let has_digit = cred.iter().any(u8::is_ascii_digit);
    let token_like = (n >= 12 && has_digit) || is_high_entropy(cred);
    Ok(match token_like && !is_placeholder(cred) {
        true => found(start, start + n, Builtin::BearerToken),
        false => None,
    })
}

/// `-----BEGIN <label>PRIVATE KEY-----` … `-----END <label>-----`, also with
/// JSON-escaped line breaks. The END line is searched within [`PEM_MAX`].
pub(super) fn pem(hay: Hay<'_>, at: usize, trigger_end: usize) -> Result<Option<Found>, NeedMore> {
    let label = hay.run(trigger_end, 48, |b| {
        b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' '
    })?;
    let label_end = trigger_end + label;
    if !hay.has(label_end, b"-----")? {
        return Ok(None);
    }
    let label_text = hay.slice(trigger_end, label_end);
    if !label_text.windows(11).any(|w| w == b"PRIVATE KEY") {
        return Ok(None);
    }
    let limit = at + PEM_MAX;
    let body = label_end + 5;
    let visible = hay.bytes.len().min(limit);
    if let Some(rel) = memchr::memmem::find(&hay.bytes[body.min(visible)..visible], b"-----END ") {
        let end_marker = body + rel + 9;
        let tail = hay.run(end_marker, 48, |b| b != b'-' && b != b'\n')?;
        let close = end_marker + tail;
        return Ok(match hay.has(close, b"-----")? {
            true => found(at, close + 5, Builtin::PrivateKey),
            false => found(at, close, Builtin::PrivateKey),
        });
    }
    if visible == limit || hay.eof {
        // No END line within the bound: fail closed, mask all of it.
        return Ok(found(at, visible, Builtin::PrivateKey));
    }
    Err(NeedMore)
}

/// `scheme://user:password@` — only the password is masked.
pub(super) fn url_password(
    hay: Hay<'_>,
    at: usize,
    trigger_end: usize,
) -> Result<Option<Found>, NeedMore> {
    if !hay.before(at).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let userinfo = |b: u8| {
        !matches!(
            b,
            b':' | b'@' | b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'\\'
        ) && b > b' '
    };
    let user = hay.run(trigger_end, URL_PART_MAX, userinfo)?;
    let colon = trigger_end + user;
    if hay.at(colon)? != Some(b':') {
        return Ok(None);
    }
    let password = |b: u8| b != b':' && userinfo(b);
    let n = hay.run(colon + 1, URL_PART_MAX, password)?;
    let end = colon + 1 + n;
    if n == 0 || hay.at(end)? != Some(b'@') || is_placeholder(hay.slice(colon + 1, end)) {
        return Ok(None);
    }
    Ok(found(colon + 1, end, Builtin::UrlPassword))
}
