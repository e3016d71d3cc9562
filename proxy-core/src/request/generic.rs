//! Parameters kube-apiserver accepts on every request: `timeout` (a Go duration bounding
//! how long the server works on the request) and `pretty` (indented output).
//!
//! kubectl adds `timeout=` to every request when `--request-timeout` (or a kubeconfig
//! default) is set, so these are never a reason to refuse a request. They are read the API
//! server's way, and refused only when the API server might read them differently from
//! kubewitness: given twice with different values, or a `timeout` that is not a duration.

use std::time::Duration;

use super::{Unclassifiable, refuse};
use crate::channel::url_pairs;

/// The longest `timeout` value read (Go durations are short: `1h2m3.5s`).
pub const MAX_TIMEOUT_LEN: usize = 64;

/// The generic parameters of a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Generic {
    /// `timeout`, when given.
    pub timeout: Option<Duration>,
    /// `pretty`, when given.
    pub pretty: Option<bool>,
}

impl Generic {
    /// Reads `timeout` and `pretty` from a raw query, refusing values that disagree.
    pub fn parse(query: &str) -> Result<Generic, Unclassifiable> {
        let timeout = single(query, "timeout")?
            .map(|v| go_duration(&v))
            .transpose()?;
        let pretty = single(query, "pretty")?.map(|v| !(v == "0" || v == "false"));
        Ok(Generic { timeout, pretty })
    }
}

/// The value of `key`, refusing repeats with different values.
fn single(query: &str, key: &str) -> Result<Option<String>, Unclassifiable> {
    let mut found: Option<String> = None;
    for (_, v) in url_pairs(query).filter(|(k, _)| k == key) {
        match &found {
            Some(first) if *first != v => {
                return refuse(format!("conflicting `{key}` parameters"));
            }
            _ => found = Some(v),
        }
    }
    Ok(found)
}

/// Reads a Go duration (`5s`, `1m30s`, `1.5s`, `250ms`), the format of `timeout`.
pub fn go_duration(s: &str) -> Result<Duration, Unclassifiable> {
    let bad = || Unclassifiable(format!("`timeout` `{s}` is not a duration"));
    if s.is_empty() || s.len() > MAX_TIMEOUT_LEN {
        return Err(bad());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(n);
        let u = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        nanos = nanos
            .checked_add(scaled(number, scale).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        rest = tail;
    }
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| bad())
}

/// `number` (digits, optionally with a fraction) times `scale` nanoseconds.
fn scaled(number: &str, scale: u128) -> Option<u128> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(frac) {
        return None;
    }
    let mut total = if whole.is_empty() {
        0
    } else {
        whole.parse::<u128>().ok()?.checked_mul(scale)?
    };
    let mut unit = scale;
    for b in frac.bytes() {
        unit /= 10;
        total = total.checked_add(u128::from(b - b'0') * unit)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_are_read_like_go() {
        for (s, want) in [
            ("5s", Duration::from_secs(5)),
            ("1m30s", Duration::from_secs(90)),
            ("1h0m0s", Duration::from_secs(3600)),
            ("1.5s", Duration::from_millis(1500)),
            ("250ms", Duration::from_millis(250)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(go_duration(s).unwrap(), want, "{s}");
        }
        for s in [
            "",
            "5",
            "s",
            "5x",
            "-5s",
            "1..5s",
            ".s",
            "9999999999999999999h",
        ] {
            assert!(go_duration(s).is_err(), "{s}");
        }
        assert!(go_duration(&"1".repeat(MAX_TIMEOUT_LEN)).is_err());
    }

    #[test]
    fn generic_parameters_are_read_and_conflicts_refused() {
        let g = Generic::parse("timeout=5s&pretty=true&watch=1").unwrap();
        assert_eq!(g.timeout, Some(Duration::from_secs(5)));
        assert_eq!(g.pretty, Some(true));
        assert_eq!(Generic::parse("").unwrap(), Generic::default());
        assert!(Generic::parse("timeout=5s&timeout=5s").is_ok());
        assert!(Generic::parse("timeout=5s&timeout=1h").is_err());
        assert!(Generic::parse("pretty=true&pretty=false").is_err());
        assert!(Generic::parse("timeout=soon").is_err());
    }
}
