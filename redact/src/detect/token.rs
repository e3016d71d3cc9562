//! Vendor tokens recognised by a fixed prefix and a body of known shape.
//!
//! Every detector here starts its match at the trigger, requires a token
//! boundary before it (so `task-…` never matches `sk-`), reads a bounded body
//! and requires that the body is not glued to more token characters.

use super::Found;
use crate::checksum::github_checksum_ok;
use crate::hay::{Hay, NeedMore, is_alnum, is_b64url, token_boundary};
use crate::rules::Builtin;

/// Longest body any detector in this module reads (Google OAuth tokens).
pub(super) const MAX_BODY: usize = 2048;

/// A body of exactly `len` bytes of `pred`, not followed by another `pred` byte.
fn exact(
    hay: Hay<'_>,
    from: usize,
    len: usize,
    pred: impl Fn(u8) -> bool,
) -> Result<bool, NeedMore> {
    Ok(hay.run(from, len + 1, pred)? == len)
}

/// A body of `min..=max` bytes of `pred`, not followed by another `pred` byte.
/// Returns the body length.
fn ranged(
    hay: Hay<'_>,
    from: usize,
    min: usize,
    max: usize,
    pred: impl Fn(u8) -> bool,
) -> Result<Option<usize>, NeedMore> {
    let n = hay.run(from, max + 1, pred)?;
    Ok((min..=max).contains(&n).then_some(n))
}

fn hit(at: usize, end: usize, rule: Builtin) -> Option<Found> {
    Some(Found {
        start: at,
        end,
        rule: rule.idx(),
    })
}

/// `AKIA|ASIA|ABIA|ACCA` + 16 × `[A-Z0-9]`.
pub(super) fn aws_key_id(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    if !token_boundary(hay.before(at)) {
        return Ok(None);
    }
    let upper = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    if exact(hay, at + 4, 16, upper)? && !hay.is(at + 20, is_alnum)? {
        return Ok(hit(at, at + 20, Builtin::AwsAccessKeyId));
    }
    Ok(None)
}

/// `gh[pousr]_` + 36 × `[A-Za-z0-9]` whose last six are the CRC32 of the first 30.
pub(super) fn github(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    if token_boundary(hay.before(at)) && exact(hay, at + 4, 36, is_alnum)? {
        let body = hay.slice(at + 4, at + 40);
        if github_checksum_ok(body) {
            return Ok(hit(at, at + 40, Builtin::GithubToken));
        }
    }
    Ok(None)
}

/// `github_pat_` + 22 × alnum + `_` + 59 × alnum.
pub(super) fn github_fine(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    let body = at + 11;
    let word = |b: u8| is_alnum(b) || b == b'_';
    if token_boundary(hay.before(at))
        && exact(hay, body, 82, word)?
        && hay
            .slice(body, body + 82)
            .iter()
            .filter(|&&b| b == b'_')
            .count()
            == 1
        && hay.slice(body, body + 82)[22] == b'_'
    {
        return Ok(hit(at, body + 82, Builtin::GithubFineGrained));
    }
    Ok(None)
}

/// GitLab `gl…-` prefixes + 20..=80 × `[A-Za-z0-9_.-]`.
pub(super) fn gitlab(hay: Hay<'_>, at: usize, prefix: usize) -> Result<Option<Found>, NeedMore> {
    let pred = |b: u8| is_b64url(b) || b == b'.';
    match token_boundary(hay.before(at)) {
        true => Ok(ranged(hay, at + prefix, 20, 80, pred)?
            .and_then(|n| hit(at, at + prefix + n, Builtin::GitlabToken))),
        false => Ok(None),
    }
}

/// `xox[bparse]-` / `xapp-` + 10..=250 × `[A-Za-z0-9-]`.
pub(super) fn slack(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    let pred = |b: u8| is_alnum(b) || b == b'-';
    if !token_boundary(hay.before(at)) {
        return Ok(None);
    }
    let kind_ok = hay.is(at + 3, |b| b"bparse".contains(&b))? || hay.has(at, b"xapp")?;
    if !kind_ok || hay.at(at + 4)? != Some(b'-') {
        return Ok(None);
    }
    Ok(ranged(hay, at + 5, 10, 250, pred)?.and_then(|n| hit(at, at + 5 + n, Builtin::SlackToken)))
}

/// `hooks.slack.com/services/` + `T…/B…/secret`; the path is masked.
pub(super) fn slack_webhook(
    hay: Hay<'_>,
    at: usize,
    prefix: usize,
) -> Result<Option<Found>, NeedMore> {
    let pred = |b: u8| is_alnum(b) || b == b'/';
    Ok(ranged(hay, at + prefix, 20, 120, pred)?
        .and_then(|n| hit(at + prefix, at + prefix + n, Builtin::SlackWebhook)))
}

/// `sk_live_`, `rk_test_`, `whsec_`, … + 16..=247 × alnum.
pub(super) fn stripe(hay: Hay<'_>, at: usize, prefix: usize) -> Result<Option<Found>, NeedMore> {
    if !token_boundary(hay.before(at)) {
        return Ok(None);
    }
    Ok(ranged(hay, at + prefix, 16, 247, is_alnum)?
        .and_then(|n| hit(at, at + prefix + n, Builtin::StripeKey)))
}

/// `AIza` + 35 × `[A-Za-z0-9_-]`.
pub(super) fn google_api_key(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    if token_boundary(hay.before(at)) && exact(hay, at + 4, 35, is_b64url)? {
        return Ok(hit(at, at + 39, Builtin::GoogleApiKey));
    }
    Ok(None)
}

/// `ya29.` + 20..=2048 × `[A-Za-z0-9_.-]`.
pub(super) fn google_oauth(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    let pred = |b: u8| is_b64url(b) || b == b'.';
    if !token_boundary(hay.before(at)) {
        return Ok(None);
    }
    Ok(ranged(hay, at + 5, 20, MAX_BODY, pred)?
        .and_then(|n| hit(at, at + 5 + n, Builtin::GoogleOauthToken)))
}

/// `npm_` + 36 × alnum.
pub(super) fn npm(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    if token_boundary(hay.before(at)) && exact(hay, at + 4, 36, is_alnum)? {
        return Ok(hit(at, at + 40, Builtin::NpmToken));
    }
    Ok(None)
}

/// `sk-` + 32..=256 × `[A-Za-z0-9_-]` with at least one digit; `sk-ant-` is Anthropic.
pub(super) fn sk_dash(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    if !token_boundary(hay.before(at)) {
        return Ok(None);
    }
    let Some(n) = ranged(hay, at + 3, 32, 256, is_b64url)? else {
        return Ok(None);
    };
    let body = hay.slice(at + 3, at + 3 + n);
    if !body.iter().any(u8::is_ascii_digit) {
        return Ok(None);
    }
    let rule = match body.starts_with(b"ant-") {
        true => Builtin::AnthropicKey,
        false => Builtin::OpenaiKey,
    };
    Ok(hit(at, at + 3 + n, rule))
}

/// `SG.` + 22 × `[A-Za-z0-9_-]` + `.` + 43 × `[A-Za-z0-9_-]`.
pub(super) fn sendgrid(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    if token_boundary(hay.before(at))
        && hay.run(at + 3, 23, is_b64url)? == 22
        && hay.at(at + 25)? == Some(b'.')
        && exact(hay, at + 26, 43, is_b64url)?
    {
        return Ok(hit(at, at + 69, Builtin::SendgridKey));
    }
    Ok(None)
}
