//! Vendor tokens of the infrastructure around a cluster, recognised by a documented prefix
//! and a body of documented alphabet and length (see `redact/DESIGN.md`, "Rules").
//!
//! A known prefix decides: a hex body after `dop_v1_`, `sntryu_` or `dapi` is a token, not a
//! digest, because nothing but the detector for that prefix looks at it. Every detector
//! requires a token boundary before its prefix and a body that is not glued to more token
//! characters.

use super::Found;
use crate::hay::{Hay, NeedMore, is_alnum, is_b64url, token_boundary};
use crate::rules::Builtin;

/// Longest body any detector here reads (1Password service-account tokens, AWS session
/// tokens).
pub(super) const MAX_BODY: usize = 4096;

/// The rare trigger anchors of this module, the prefixes one of which must precede the anchor
/// (none: the anchor is the whole prefix), and the rule each verifies. An anchor is chosen
/// for its rare leading bytes (`256~`, not `sha256~`): see `rare.rs`.
pub(super) const TRIGGERS: &[(&str, &[&str], Builtin)] = {
    use Builtin::*;
    &[
        ("FwoGZXIvYXdz", &[], AwsSessionToken),
        ("IQoJb3JpZ2lu", &[], AwsSessionToken),
        ("sig=", &[], AzureSasSignature),
        ("GOCSPX-", &[], GcpOauthClientSecret),
        ("1//0", &[], GcpRefreshToken),
        ("hvs.", &[], VaultToken),
        ("hvb.", &[], VaultToken),
        ("hvr.", &[], VaultToken),
        ("256~", &["sha"], OpenshiftToken),
        ("glsa_", &[], GrafanaToken),
        ("glc_", &[], GrafanaToken),
        ("NRAK-", &[], NewRelicKey),
        ("NRII-", &[], NewRelicKey),
        ("NRIQ-", &[], NewRelicKey),
        ("NRRA-", &[], NewRelicKey),
        ("NRJS-", &[], NewRelicKey),
        ("sntrys_", &[], SentryToken),
        ("sntryu_", &[], SentryToken),
        ("dapi", &[], DatabricksToken),
        ("_org_", &["api"], HuggingfaceToken),
        ("HRKU-", &[], HerokuApiKey),
        ("ops_", &[], OnePasswordToken),
        ("_v1_", &["dop", "doo", "dor"], DigitaloceanToken),
        ("dp.pt.", &[], DopplerToken),
        ("dp.st.", &[], DopplerToken),
        ("dp.sa.", &[], DopplerToken),
        ("dp.ct.", &[], DopplerToken),
        ("dp.scim.", &[], DopplerToken),
        ("dp.audit.", &[], DopplerToken),
        ("pul-", &[], PulumiToken),
        (".atlasv1.", &[], TerraformCloudToken),
        ("pscale_", &[], PlanetscaleToken),
        // Not the whole `AGE-SECRET-KEY-1`: a trigger must not contain another (`SECRET`).
        ("AGE-SECRE", &[], AgeSecretKey),
        (".office.com/webhookb2/", &["webhook"], TeamsWebhook),
        ("outlook.office.com/webhook/", &[], TeamsWebhook),
        ("rd.com/api/webhooks/", &["disco"], DiscordWebhook),
        ("rdapp.com/api/webhooks/", &["disco"], DiscordWebhook),
    ]
};

/// Three-byte anchors: searched apart from the longer ones, whose packed searcher then
/// fingerprints four bytes.
pub(super) const SHORT_TRIGGERS: &[(&str, Builtin)] = &[
    ("8Q~", Builtin::AzureAdClientSecret),
    ("hf_", Builtin::HuggingfaceToken),
];

fn hit(start: usize, end: usize, rule: Builtin) -> Option<Found> {
    Some(Found {
        start,
        end,
        rule: rule.idx(),
    })
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// `[prefix][min..=max × pred]`, not glued on either side: the span from the trigger.
fn body(
    hay: Hay<'_>,
    at: usize,
    prefix: usize,
    (min, max): (usize, usize),
    pred: impl Fn(u8) -> bool,
    rule: Builtin,
) -> Result<Option<Found>, NeedMore> {
    if !token_boundary(hay.before(at)) {
        return Ok(None);
    }
    let n = hay.run(at + prefix, max + 1, pred)?;
    Ok(match (min..=max).contains(&n) {
        true => hit(at, at + prefix + n, rule),
        false => None,
    })
}

/// Verifies the hit `[at, at + prefix)` of a trigger of `rule`.
pub(super) fn verify(
    hay: Hay<'_>,
    at: usize,
    prefix: usize,
    rule: Builtin,
) -> Result<Option<Found>, NeedMore> {
    use Builtin::*;
    let b64 = |b: u8| is_alnum(b) || matches!(b, b'+' | b'/' | b'=');
    let b64_any = |b: u8| is_b64url(b) || matches!(b, b'+' | b'/' | b'=');
    let lit = hay.slice(at, at + prefix);
    match rule {
        AzureAdClientSecret => azure_ad(hay, at),
        AzureSasSignature => super::header::sas_signature(hay, at, prefix),
        AwsSessionToken => body(hay, at, prefix, (100, MAX_BODY), b64, rule),
        GcpOauthClientSecret => body(hay, at, prefix, (28, 28), is_b64url, rule),
        GcpRefreshToken => match hay.before(at) {
            Some(b'/' | b':') => Ok(None),
            _ => body(hay, at, prefix, (30, 512), is_b64url, rule),
        },
        VaultToken => body(hay, at, prefix, (24, 400), is_b64url, rule),
        OpenshiftToken => body(hay, at, prefix, (43, 43), is_b64url, rule),
        GrafanaToken if lit == b"glsa_" => {
            let word = |b: u8| is_alnum(b) || b == b'_';
            let found = body(hay, at, prefix, (41, 41), word, rule)?;
            Ok(found.filter(|f| hay.bytes[f.end - 9] == b'_'))
        }
        GrafanaToken => body(hay, at, prefix, (32, 400), b64_any, rule),
        NewRelicKey if lit == b"NRAK-" => body(hay, at, prefix, (27, 27), is_alnum, rule),
        NewRelicKey => body(hay, at, prefix, (19, 42), is_b64url, rule),
        SentryToken if lit == b"sntryu_" => body(hay, at, prefix, (64, 64), is_hex, rule),
        SentryToken => body(hay, at, prefix, (60, 400), b64_any, rule),
        DatabricksToken => databricks(hay, at, prefix),
        HuggingfaceToken => body(hay, at, prefix, (34, 34), is_alnum, rule),
        HerokuApiKey => body(hay, at, prefix, (20, 80), is_b64url, rule),
        OnePasswordToken if !hay.has(at + prefix, b"eyJ")? => Ok(None),
        OnePasswordToken => body(hay, at, prefix, (40, MAX_BODY), b64_any, rule),
        DigitaloceanToken => body(hay, at, prefix, (64, 64), is_hex, rule),
        DopplerToken => body(hay, at, prefix, (40, 64), is_alnum, rule),
        PulumiToken => body(hay, at, prefix, (40, 40), is_hex, rule),
        TerraformCloudToken => terraform(hay, at, prefix),
        PlanetscaleToken => planetscale(hay, at, prefix),
        AgeSecretKey if !hay.has(at + prefix, b"T-KEY-1")? => Ok(None),
        AgeSecretKey => {
            let bech32 = |b: u8| b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L".contains(&b);
            body(hay, at, prefix + 7, (58, 58), bech32, rule)
        }
        TeamsWebhook | DiscordWebhook => {
            let path = |b: u8| is_b64url(b) || matches!(b, b'/' | b'@' | b'.');
            let n = hay.run(at + prefix, 401, path)?;
            Ok(match (30..=400).contains(&n) {
                true => hit(at + prefix, at + prefix + n, rule),
                false => None,
            })
        }
        _ => Ok(None),
    }
}

/// Azure AD client secrets: 3 characters, `8Q~`, 31–34 more of `[A-Za-z0-9_~.-]`. The three
/// characters before the trigger have already been released by a stream when the trigger is
/// seen, so the span starts at the trigger; the 37 bytes from it are masked.
fn azure_ad(hay: Hay<'_>, at: usize) -> Result<Option<Found>, NeedMore> {
    let pred = |b: u8| is_b64url(b) || b == b'~' || b == b'.';
    if at < 3 || !hay.bytes[at - 3..at].iter().all(|&b| pred(b)) {
        return Ok(None);
    }
    if at > 3 && pred(hay.bytes[at - 4]) {
        return Ok(None);
    }
    let n = hay.run(at + 3, 35, pred)?;
    Ok(match (31..=34).contains(&n) {
        true => hit(at, at + 3 + n, Builtin::AzureAdClientSecret),
        false => None,
    })
}

/// `dapi` + 32 hex, optionally `-` and a digit.
fn databricks(hay: Hay<'_>, at: usize, prefix: usize) -> Result<Option<Found>, NeedMore> {
    let Some(f) = body(hay, at, prefix, (32, 32), is_hex, Builtin::DatabricksToken)? else {
        return Ok(None);
    };
    if hay.at(f.end)? == Some(b'-') && hay.is(f.end + 1, |b| b.is_ascii_digit())? {
        return Ok(match hay.is(f.end + 2, is_alnum)? {
            true => None,
            false => hit(at, f.end + 2, Builtin::DatabricksToken),
        });
    }
    Ok(match hay.at(f.end)? == Some(b'-') {
        true => None,
        false => Some(f),
    })
}

/// `<14 alnum>.atlasv1.<60–70 of [A-Za-z0-9_=-]>`, masked from the trigger (see
/// [`azure_ad`] for why the id before it stays).
fn terraform(hay: Hay<'_>, at: usize, prefix: usize) -> Result<Option<Found>, NeedMore> {
    if at < 14 || !hay.bytes[at - 14..at].iter().all(|&b| is_alnum(b)) {
        return Ok(None);
    }
    let pred = |b: u8| is_b64url(b) || b == b'=';
    let n = hay.run(at + prefix, 71, pred)?;
    Ok(match (60..=70).contains(&n) {
        true => hit(at, at + prefix + n, Builtin::TerraformCloudToken),
        false => None,
    })
}

/// `pscale_` + `tkn`/`pw`/`oauth`/`otkn` + `_` + 32–64 of `[A-Za-z0-9_=.-]`.
fn planetscale(hay: Hay<'_>, at: usize, prefix: usize) -> Result<Option<Found>, NeedMore> {
    let kind = hay.run(at + prefix, 6, |b| b.is_ascii_lowercase())?;
    let word = hay.slice(at + prefix, at + prefix + kind);
    if !matches!(word, b"tkn" | b"pw" | b"oauth" | b"otkn")
        || hay.at(at + prefix + kind)? != Some(b'_')
    {
        return Ok(None);
    }
    let pred = |b: u8| is_b64url(b) || b == b'=' || b == b'.';
    body(
        hay,
        at,
        prefix + kind + 1,
        (32, 64),
        pred,
        Builtin::PlanetscaleToken,
    )
}
