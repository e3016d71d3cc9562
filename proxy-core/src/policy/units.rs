//! Byte quantities (`10Mi`, `1G`, `4096`) and durations (`2m`, `30s`, `1h30m`, `500ms`),
//! written the way Kubernetes manifests and Go durations write them.

use std::time::Duration;

use super::model::Quantity;

/// The largest byte quantity accepted (1 TiB): anything larger is a typo, not a limit.
pub const MAX_QUANTITY: u64 = 1 << 40;
/// The longest duration accepted (7 days).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Reads a byte quantity; the error says what is wrong.
pub(crate) fn bytes(q: &Quantity) -> Result<u64, String> {
    let n = match q {
        Quantity::Number(n) => *n,
        Quantity::Text(s) => parse_bytes(s)?,
    };
    if n == 0 {
        return Err("must be greater than zero".into());
    }
    if n > MAX_QUANTITY {
        return Err(format!("{n} bytes is more than the maximum of 1Ti"));
    }
    Ok(n)
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, suffix) = s.split_at(split);
    let bad = || format!("`{s}` is not a byte quantity (examples: 4096, 512Ki, 10Mi, 1G)");
    if digits.is_empty() {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let unit: u64 = match suffix {
        "" => 1,
        "k" | "K" => 1000,
        "M" => 1000 * 1000,
        "G" => 1000 * 1000 * 1000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(unit).ok_or_else(bad)
}

/// Reads a duration such as `2m`, `30s`, `1h30m` or `250ms`.
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration (examples: 500ms, 30s, 2m, 1h30m)");
    let mut rest = s;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let split = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (digits, tail) = rest.split_at(split);
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
            "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        total = total.checked_add(part).ok_or_else(bad)?;
        rest = tail;
    }
    if total.is_zero() {
        return Err("must be greater than zero".into());
    }
    if total > MAX_DURATION {
        return Err(format!("`{s}` is longer than the maximum of 7 days"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Result<u64, String> {
        bytes(&Quantity::Text(s.into()))
    }

    #[test]
    fn quantities() {
        assert_eq!(text("10Mi"), Ok(10 << 20));
        assert_eq!(text("1Mi"), Ok(1 << 20));
        assert_eq!(text("512Ki"), Ok(512 << 10));
        assert_eq!(text("2G"), Ok(2_000_000_000));
        assert_eq!(text("4096"), Ok(4096));
        assert_eq!(bytes(&Quantity::Number(7)), Ok(7));
        for bad in [
            "",
            "Mi",
            "10MB",
            "10 Mi",
            "-1",
            "1.5Mi",
            "0",
            "2Ti",
            "99999999999999999999",
        ] {
            assert!(text(bad).is_err(), "{bad}");
        }
        assert!(bytes(&Quantity::Number(0)).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "2", "m", "2x", "1.5s", "-1s", "0s", "8d", "200h", "2 m"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }
}
