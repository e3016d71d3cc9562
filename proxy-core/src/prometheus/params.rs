//! The request as Prometheus reads it: which endpoint, and its parameters from the URL
//! query and a form body together; times (Unix seconds or RFC 3339) and steps (seconds or a
//! PromQL duration).

use std::time::Duration;

use super::error::{ErrorKind, GatewayError};

/// The path prefix the gateway answers under.
pub const PREFIX: &str = "/prometheus";
/// The most parameters one request may carry.
pub const MAX_PARAMS: usize = 64;
/// The largest form body read.
pub const MAX_FORM_BODY: usize = 64 << 10;
/// Prometheus's own limit on points per series of a range query.
pub const MAX_POINTS: u64 = 11_000;

/// The endpoints served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/api/v1/query`.
    Query,
    /// `/api/v1/query_range`.
    QueryRange,
    /// `/api/v1/series`.
    Series,
    /// `/api/v1/labels`.
    Labels,
    /// `/api/v1/label/<name>/values`.
    LabelValues(String),
    /// `/api/v1/metadata`.
    Metadata,
}

impl Endpoint {
    /// Reads a path under [`PREFIX`]; anything else is a 404.
    pub fn parse(path: &str) -> Result<Endpoint, GatewayError> {
        let not_found = || {
            GatewayError::new(
                ErrorKind::NotFound,
                format!("kubewitness serves no Prometheus endpoint at {path}"),
            )
        };
        let rest = path
            .strip_prefix(PREFIX)
            .and_then(|p| p.strip_prefix("/api/v1/"))
            .ok_or_else(not_found)?;
        Ok(match rest {
            "query" => Endpoint::Query,
            "query_range" => Endpoint::QueryRange,
            "series" => Endpoint::Series,
            "labels" => Endpoint::Labels,
            "metadata" => Endpoint::Metadata,
            _ => {
                let name = rest
                    .strip_prefix("label/")
                    .and_then(|r| r.strip_suffix("/values"))
                    .filter(|n| is_label_name(n))
                    .ok_or_else(not_found)?;
                Endpoint::LabelValues(name.to_string())
            }
        })
    }

    /// The backend path.
    pub fn path(&self) -> String {
        match self {
            Endpoint::LabelValues(name) => format!("/api/v1/label/{name}/values"),
            other => format!("/api/v1/{}", other.name()),
        }
    }

    /// `query`, `query_range`, `series`, `labels`, `label_values` or `metadata`.
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::Query => "query",
            Endpoint::QueryRange => "query_range",
            Endpoint::Series => "series",
            Endpoint::Labels => "labels",
            Endpoint::LabelValues(_) => "label_values",
            Endpoint::Metadata => "metadata",
        }
    }
}

fn is_label_name(n: &str) -> bool {
    let mut bytes = n.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The parameters of one request, URL query first, then the form body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Reads `query` and an `application/x-www-form-urlencoded` `form` body.
    pub fn parse(query: &str, form: &str) -> Result<Params, GatewayError> {
        let mut pairs = Vec::new();
        for text in [query, form] {
            crate::channel::check_query(text)
                .map_err(|why| GatewayError::bad_data(format!("parameters: {why}")))?;
            pairs.extend(crate::channel::url_pairs(text));
        }
        if pairs.len() > MAX_PARAMS {
            return Err(GatewayError::bad_data(format!(
                "more than {MAX_PARAMS} parameters"
            )));
        }
        Ok(Params { pairs })
    }

    /// The one value of `key`; two different values are an error.
    pub fn one<'a>(&'a self, key: &'a str) -> Result<Option<&'a str>, GatewayError> {
        let mut found: Option<&str> = None;
        for v in self.all(key) {
            match found {
                Some(f) if f != v => {
                    return Err(GatewayError::bad_data(format!(
                        "parameter {key} given twice with different values"
                    )));
                }
                _ => found = Some(v),
            }
        }
        Ok(found)
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `key` as a time in Unix milliseconds, `default` when absent.
    pub fn time(&self, key: &str, default: i64) -> Result<i64, GatewayError> {
        match self.one(key)? {
            None => Ok(default),
            Some(v) => parse_time(v).ok_or_else(|| {
                GatewayError::bad_data(format!(
                    "invalid parameter {key:?}: cannot parse {v:?} to a valid timestamp"
                ))
            }),
        }
    }
}

/// Unix seconds (`1700000000.5`) or RFC 3339 (`2023-11-14T22:13:20Z`), to milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs.abs() < 1e13).then(|| (secs * 1000.0).round() as i64);
    }
    rfc3339_ms(s)
}

fn rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (date, time) = s.split_once(['T', 't'])?;
    if b.len() < 20 || date.len() != 10 {
        return None;
    }
    let num = |t: &str| t.parse::<i64>().ok();
    let (y, m, d) = (num(&date[0..4])?, num(&date[5..7])?, num(&date[8..10])?);
    let (h, mi) = (num(time.get(0..2)?)?, num(time.get(3..5)?)?);
    let sec_end = time.find(['Z', 'z', '+', '-']).filter(|&i| i >= 8)?;
    let secs: f64 = time.get(6..sec_end)?.parse().ok()?;
    let zone = &time[sec_end..];
    let off_min = match zone {
        "Z" | "z" => 0,
        _ if zone.len() == 6 => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (num(&zone[1..3])? * 60 + num(&zone[4..6])?)
        }
        _ => return None,
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || secs >= 61.0 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    let whole = ((days * 24 + h) * 60 + mi - off_min) * 60;
    Some(whole * 1000 + (secs * 1000.0).round() as i64)
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A step: seconds (`15`, `0.5`) or a PromQL duration (`1m30s`).
pub fn parse_step(s: &str) -> Result<Duration, GatewayError> {
    let bad = || {
        GatewayError::bad_data(format!(
            "invalid parameter \"step\": cannot parse {s:?} to a valid duration"
        ))
    };
    let step = match s.parse::<f64>() {
        Ok(secs) if secs.is_finite() && (0.0..1e10).contains(&secs) => {
            Duration::from_secs_f64(secs)
        }
        Ok(_) => return Err(bad()),
        Err(_) => promql_parser::util::parse_duration(s).map_err(|_| bad())?,
    };
    if step.is_zero() {
        return Err(GatewayError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("/prometheus/api/v1/query_range").unwrap(),
            Endpoint::QueryRange
        );
        let lv = Endpoint::parse("/prometheus/api/v1/label/job/values").unwrap();
        assert_eq!(lv.path(), "/api/v1/label/job/values");
        for bad in [
            "/prometheus/api/v1/admin/tsdb/delete_series",
            "/prometheus/api/v1/label/../values",
            "/prometheus/api/v1/label/a%2Fb/values",
            "/prometheus/api/v1/query/",
            "/prometheus/federate",
        ] {
            let e = Endpoint::parse(bad).unwrap_err();
            assert_eq!(e.status().as_u16(), 404, "{bad}");
        }
    }

    #[test]
    fn query_and_form_parameters_merge() {
        let p = Params::parse("query=up&match%5B%5D=a", "match[]=b&step=15").unwrap();
        assert_eq!(p.one("query").unwrap(), Some("up"));
        assert_eq!(p.all("match[]").collect::<Vec<_>>(), ["a", "b"]);
        let p = Params::parse("query=up", "query=down").unwrap();
        assert!(p.one("query").is_err());
        assert!(Params::parse("query=%zz", "").is_err());
        let many = "a=1&".repeat(MAX_PARAMS + 1);
        assert!(Params::parse(&many, "").is_err());
    }

    #[test]
    fn times_and_steps() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.25"), Some(1_700_000_000_250));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00"),
            Some(1_700_000_000_500)
        );
        for bad in ["", "yesterday", "NaN", "2023-11-14", "2023-13-14T22:13:20Z"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(parse_step("15").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_step("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_step("0.5").unwrap(), Duration::from_millis(500));
        for bad in ["0", "-1", "x", "inf"] {
            assert!(parse_step(bad).is_err(), "{bad}");
        }
    }
}
