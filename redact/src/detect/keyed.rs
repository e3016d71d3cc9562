//! Vendor credentials without a distinctive prefix, recognised when the key they are
//! assigned to names the vendor and the value has the vendor's documented shape. The
//! assignment detector asks here first; a match reports the vendor's rule whatever the
//! value's entropy (a Datadog key is 32 hex digits, which the entropy test may pass over).

use crate::entropy::is_uuid;
use crate::hay::is_b64url;
use crate::rules::Builtin;

fn all(v: &[u8], pred: impl Fn(u8) -> bool) -> bool {
    v.iter().all(|&b| pred(b))
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// The vendor rule for `value` assigned to `key`, if its key and shape say so.
pub(super) fn by_key_and_shape(key: &[u8], value: &[u8]) -> Option<Builtin> {
    let key = key.trim_ascii_start();
    let start = key
        .iter()
        .take_while(|b| matches!(b, b'-' | b'_' | b'.'))
        .count();
    let k = key[start..].to_ascii_lowercase();
    let has = |w: &[u8]| k.windows(w.len()).any(|x| x == w);
    let starts = |w: &[u8]| k.starts_with(w);
    let len = value.len();
    if len == 88 && value.ends_with(b"==") && all(value, is_b64) {
        return Some(Builtin::AzureStorageKey);
    }
    if (has(b"datadog") || starts(b"dd_") || starts(b"dd-"))
        && (len == 32 || len == 40)
        && all(value, is_hex)
    {
        return Some(Builtin::DatadogApiKey);
    }
    if (has(b"cloudflare") || starts(b"cf_") || starts(b"cf-"))
        && ((len == 37 && all(value, is_hex)) || (len == 40 && all(value, is_b64url)))
    {
        return Some(Builtin::CloudflareApiToken);
    }
    if has(b"heroku") && is_uuid(value) {
        return Some(Builtin::HerokuApiKey);
    }
    if (has(b"newrelic") || has(b"new_relic") || has(b"new-relic") || starts(b"nr_"))
        && len == 40
        && (value.ends_with(b"NRAL") || all(value, is_hex))
    {
        return Some(Builtin::NewRelicKey);
    }
    let vault_key = has(b"vault") || has(b"token");
    if vault_key
        && len == 26
        && value.starts_with(b"s.")
        && all(&value[2..], |b| b.is_ascii_alphanumeric())
    {
        return Some(Builtin::VaultToken);
    }
    None
}
