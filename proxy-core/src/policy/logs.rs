//! `pods/log` parameters, clamped to a rule's maxima.
//!
//! The query is parsed the API server's way and rebuilt from what was parsed, so upstream
//! sees exactly what was decided on: a missing `tailLines` becomes `maxTailLines`, a larger
//! one is lowered, and likewise `sinceSeconds` and `limitBytes`. Parameters that cannot be
//! clamped safely are refused: repeats (which one would the API server use?), unknown keys,
//! `sinceTime` under a `maxSinceSeconds`, and `insecureSkipTLSVerifyBackend=true`. The
//! generic `timeout` and `pretty` (checked by [`crate::request::Generic`]) go upstream as
//! given; the stream itself is bounded by the rule's `maxDuration`.

use super::LogLimits;
use crate::channel::url_pairs;
use crate::request::percent_encode;

/// The `PodLogOptions` query parameters, in the order the rebuilt query lists them.
const KNOWN: &[&str] = &[
    "container",
    "follow",
    "insecureSkipTLSVerifyBackend",
    "limitBytes",
    "pretty",
    "previous",
    "sinceSeconds",
    "sinceTime",
    "stream",
    "tailLines",
    "timeout",
    "timestamps",
];

/// Why a log query was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LogQueryError(String);

fn refuse<T>(msg: impl Into<String>) -> Result<T, LogQueryError> {
    Err(LogQueryError(msg.into()))
}

/// Parses `query`, applies `limits`, and returns the query to send upstream.
pub fn clamp_log_query(query: &str, limits: &LogLimits) -> Result<String, LogQueryError> {
    let mut values: Vec<Option<String>> = vec![None; KNOWN.len()];
    for (k, v) in url_pairs(query) {
        let Some(i) = KNOWN.iter().position(|known| *known == k) else {
            return refuse(format!("unknown log parameter `{k}`"));
        };
        if values[i].is_some() {
            return refuse(format!("log parameter `{k}` given more than once"));
        }
        values[i] = Some(v);
    }
    let idx = |k: &str| KNOWN.iter().position(|x| *x == k).expect("known key");
    let truthy = |v: &str| !(v == "0" || v.eq_ignore_ascii_case("false"));
    if let Some(v) = values[idx("insecureSkipTLSVerifyBackend")].take()
        && truthy(&v)
    {
        return refuse("insecureSkipTLSVerifyBackend=true is never allowed");
    }
    let number = |values: &mut Vec<Option<String>>,
                  key: &str,
                  min: u64,
                  max: Option<u64>|
     -> Result<(), LogQueryError> {
        let i = idx(key);
        let given = match values[i].as_deref() {
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n >= min => Some(n),
                _ => return refuse(format!("`{key}` must be an integer of at least {min}")),
            },
            None => None,
        };
        let clamped = match (given, max) {
            (Some(n), Some(m)) => Some(n.min(m)),
            (None, Some(m)) => Some(m),
            (g, None) => g,
        };
        values[i] = clamped.map(|n| n.to_string());
        Ok(())
    };
    number(&mut values, "tailLines", 0, limits.max_tail_lines)?;
    number(&mut values, "limitBytes", 1, limits.max_bytes)?;
    if limits.max_since_seconds.is_some() && values[idx("sinceTime")].is_some() {
        return refuse("sinceTime cannot be used where a maximum age applies; use --since instead");
    }
    if values[idx("sinceTime")].is_none() {
        number(&mut values, "sinceSeconds", 1, limits.max_since_seconds)?;
    } else if values[idx("sinceSeconds")].is_some() {
        return refuse("at most one of sinceSeconds and sinceTime");
    }
    let mut out = String::new();
    for (k, v) in KNOWN.iter().zip(values) {
        if let Some(v) = v {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(&percent_encode(&v));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: LogLimits = LogLimits {
        max_tail_lines: Some(2000),
        max_since_seconds: Some(3600),
        max_bytes: Some(10 << 20),
        max_duration: None,
        idle_timeout: None,
    };

    #[test]
    fn missing_parameters_get_the_maxima_and_larger_ones_are_lowered() {
        assert_eq!(
            clamp_log_query("container=api&follow=true", &LIMITS).unwrap(),
            "container=api&follow=true&limitBytes=10485760&sinceSeconds=3600&tailLines=2000"
        );
        assert_eq!(
            clamp_log_query("tailLines=5000&sinceSeconds=60&limitBytes=100", &LIMITS).unwrap(),
            "limitBytes=100&sinceSeconds=60&tailLines=2000"
        );
        assert_eq!(
            clamp_log_query("tailLines=3", &LogLimits::default()).unwrap(),
            "tailLines=3"
        );
        assert_eq!(
            clamp_log_query(
                "insecureSkipTLSVerifyBackend=false&previous=true",
                &LogLimits::default()
            )
            .unwrap(),
            "previous=true"
        );
        assert_eq!(
            clamp_log_query(
                "timeout=5s&stream=Stdout&pretty=true",
                &LogLimits::default()
            )
            .unwrap(),
            "pretty=true&stream=Stdout&timeout=5s"
        );
    }

    #[test]
    fn unsafe_queries_are_refused() {
        for q in [
            "tailLines=1&tailLines=9999",
            "container=a&container=b",
            "insecureSkipTLSVerifyBackend=true",
            "insecureSkipTLSVerifyBackend=",
            "tailLines=-1",
            "tailLines=ten",
            "limitBytes=0",
            "sinceSeconds=0",
            "sinceTime=2024-01-01T00:00:00Z",
            "bogus=1",
            "timeout=5s&timeout=5s",
        ] {
            assert!(clamp_log_query(q, &LIMITS).is_err(), "{q}");
        }
        assert!(
            clamp_log_query(
                "sinceTime=2024-01-01T00:00:00Z&sinceSeconds=5",
                &LogLimits::default()
            )
            .is_err()
        );
        assert!(clamp_log_query("sinceTime=2024-01-01T00:00:00Z", &LogLimits::default()).is_ok());
    }
}
