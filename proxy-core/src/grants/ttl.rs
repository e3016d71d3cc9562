//! TTLs: Go-style durations (`90s`, `15m`, `1h30m`), at least a second, at most the
//! grant's `maxTTL` (also the default).

use std::time::Duration;

/// The TTL a request asks for: `asked`, or `max` when not given.
pub fn parse(asked: Option<&str>, max: Duration) -> Result<Duration, String> {
    let Some(text) = asked.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(max);
    };
    let ttl = humantime::parse_duration(text).map_err(|e| format!("ttl {text:?}: {e}"))?;
    if ttl < Duration::from_secs(1) {
        return Err(format!("ttl {text:?} is under a second"));
    }
    if ttl > max {
        return Err(format!(
            "ttl {text:?} is over the grant's maxTTL of {}",
            humantime::format_duration(max)
        ));
    }
    Ok(Duration::from_secs(ttl.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_default_to_the_max_and_stay_within_it() {
        let max = Duration::from_secs(3600);
        assert_eq!(parse(None, max), Ok(max));
        assert_eq!(parse(Some(""), max), Ok(max));
        assert_eq!(parse(Some("90s"), max), Ok(Duration::from_secs(90)));
        assert_eq!(parse(Some("15m"), max), Ok(Duration::from_secs(900)));
        assert_eq!(parse(Some("1h"), max), Ok(max));
        assert!(parse(Some("1h1s"), max).unwrap_err().contains("maxTTL"));
        assert!(parse(Some("500ms"), max).unwrap_err().contains("second"));
        assert!(parse(Some("soon"), max).is_err());
    }
}
