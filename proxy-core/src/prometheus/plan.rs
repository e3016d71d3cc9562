//! From a request and a grant to what is sent: the backend form (rewritten query or
//! selectors, bounded times, `limit` and `timeout`) and the series to count first. Pure, so
//! `kubewitness policy explain … promql` shows exactly what the gateway would send.

use std::time::Duration;

use super::error::GatewayError;
use super::params::{Endpoint, MAX_POINTS, Params, parse_step};
use super::promql::{self, Interval, human};
use crate::policy::MetricsLimits;

/// What the gateway sends for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The backend path.
    pub path: String,
    /// The form sent to it.
    pub form: Vec<(String, String)>,
    /// The selectors whose series are counted first, and over which interval.
    pub count: Option<(Vec<String>, Interval)>,
    /// The caller's query (or `match[]` selectors, one per line).
    pub original: String,
    /// What is sent instead.
    pub rewritten: String,
    /// The interval asked for.
    pub range: Interval,
    /// The step of a range query.
    pub step: Option<Duration>,
}

/// Plans `endpoint` with `params` for the grant `limits`; `now_ms` is the default time.
pub fn plan(
    endpoint: &Endpoint,
    params: &Params,
    limits: &MetricsLimits,
    now_ms: i64,
) -> Result<Plan, GatewayError> {
    match endpoint {
        Endpoint::Query => {
            let t = params.time("time", now_ms)?;
            query(
                endpoint,
                params,
                limits,
                Interval {
                    from_ms: t,
                    to_ms: t,
                },
                None,
            )
        }
        Endpoint::QueryRange => {
            let start = required_time(params, "start")?;
            let end = required_time(params, "end")?;
            let step = parse_step(params.one("step")?.ok_or_else(|| missing("step"))?)?;
            check_step(start, end, step, limits)?;
            let range = Interval {
                from_ms: start,
                to_ms: end,
            };
            query(endpoint, params, limits, range, Some(step))
        }
        Endpoint::Series | Endpoint::Labels | Endpoint::LabelValues(_) | Endpoint::Metadata => {
            selectors(endpoint, params, limits, now_ms)
        }
    }
}

fn query(
    endpoint: &Endpoint,
    params: &Params,
    limits: &MetricsLimits,
    range: Interval,
    step: Option<Duration>,
) -> Result<Plan, GatewayError> {
    let original = params.one("query")?.ok_or_else(|| missing("query"))?;
    let checked = promql::check_query(original, range, limits)?;
    let mut form = vec![("query".to_string(), checked.rewritten.clone())];
    match step {
        None => form.push(("time".into(), seconds(range.to_ms))),
        Some(step) => {
            form.push(("start".into(), seconds(range.from_ms)));
            form.push(("end".into(), seconds(range.to_ms)));
            form.push(("step".into(), format!("{}", step.as_secs_f64())));
        }
    }
    form.push(("timeout".into(), human(limits.timeout)));
    form.push(("limit".into(), limits.max_series.to_string()));
    Ok(Plan {
        path: endpoint.path(),
        form,
        count: Some((checked.selectors, checked.reads)),
        original: original.to_string(),
        rewritten: checked.rewritten,
        range,
        step,
    })
}

/// `series`, `labels`, label values and `metadata`: `match[]` selectors, each checked and
/// scoped (the namespace selector when there are none), over at most `maxRange`.
fn selectors(
    endpoint: &Endpoint,
    params: &Params,
    limits: &MetricsLimits,
    now_ms: i64,
) -> Result<Plan, GatewayError> {
    let given: Vec<&str> = params.all("match[]").collect();
    if given.is_empty() && *endpoint == Endpoint::Series {
        return Err(GatewayError::bad_data("no match[] parameter provided"));
    }
    let scoped = if given.is_empty() {
        vec![promql::namespace_selector(limits)]
    } else {
        given
            .iter()
            .map(|s| promql::check_match(s, limits))
            .collect::<Result<Vec<_>, _>>()?
    };
    let max_ms = i64::try_from(limits.max_range.as_millis()).unwrap_or(i64::MAX);
    let end = params.time("end", now_ms)?;
    let start = params.time("start", end.saturating_sub(max_ms))?;
    let range = Interval {
        from_ms: start,
        to_ms: end,
    };
    if range.length() > limits.max_range || end < start {
        return Err(GatewayError::limit(format!(
            "the time range is {}; maxRange is {}",
            human(range.length()),
            human(limits.max_range)
        )));
    }
    let mut form: Vec<(String, String)> = scoped
        .iter()
        .map(|s| ("match[]".to_string(), s.clone()))
        .collect();
    form.push(("start".into(), seconds(start)));
    form.push(("end".into(), seconds(end)));
    form.push(("limit".into(), limits.max_series.to_string()));
    if *endpoint == Endpoint::Metadata
        && let Some(metric) = params.one("metric")?
    {
        form.push(("metric".into(), metric.to_string()));
    }
    let count = (*endpoint == Endpoint::Series).then(|| (scoped.clone(), range));
    Ok(Plan {
        path: endpoint.path(),
        form,
        count,
        original: given.join("\n"),
        rewritten: scoped.join("\n"),
        range,
        step: None,
    })
}

fn check_step(
    start: i64,
    end: i64,
    step: Duration,
    limits: &MetricsLimits,
) -> Result<(), GatewayError> {
    if end < start {
        return Err(GatewayError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    if step < limits.min_step {
        return Err(GatewayError::limit(format!(
            "the step {} is below minStep {}",
            human(step),
            human(limits.min_step)
        )));
    }
    let points = (end - start) as u128 / step.as_millis().max(1) + 1;
    if points > u128::from(MAX_POINTS) {
        return Err(GatewayError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    Ok(())
}

fn required_time(params: &Params, key: &str) -> Result<i64, GatewayError> {
    if params.one(key)?.is_none() {
        return Err(missing(key));
    }
    params.time(key, 0)
}

fn missing(key: &str) -> GatewayError {
    GatewayError::bad_data(format!("invalid parameter \"{key}\": missing"))
}

/// Milliseconds as the seconds Prometheus reads (`1700000000.250`).
pub fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Glob;

    fn limits() -> MetricsLimits {
        MetricsLimits {
            namespaces: vec![Glob::new("shop").unwrap()],
            max_range: Duration::from_secs(3600),
            min_step: Duration::from_secs(10),
            max_series: 100,
            max_result_bytes: 1 << 20,
            timeout: Duration::from_secs(30),
            queries_per_minute: 30,
        }
    }

    const NOW: i64 = 1_700_000_000_000;

    fn plan_of(endpoint: Endpoint, query: &str) -> Result<Plan, GatewayError> {
        plan(
            &endpoint,
            &Params::parse(query, "").unwrap(),
            &limits(),
            NOW,
        )
    }

    #[test]
    fn a_range_query_carries_limit_timeout_and_the_rewritten_query() {
        let p = plan_of(
            Endpoint::QueryRange,
            "query=rate(x%5B5m%5D)&start=1699998200&end=1700000000&step=15",
        )
        .unwrap();
        let form: Vec<(&str, &str)> = p.form.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            form,
            [
                ("query", r#"rate(x{namespace=~"shop"}[5m])"#),
                ("start", "1699998200.000"),
                ("end", "1700000000.000"),
                ("step", "15"),
                ("timeout", "30s"),
                ("limit", "100")
            ]
        );
        let (sel, reads) = p.count.unwrap();
        assert_eq!(sel, [r#"x{namespace=~"shop"}"#]);
        assert_eq!(reads.from_ms, 1_699_998_200_000 - 300_000);
    }

    #[test]
    fn steps_are_bounded_both_ways() {
        let e = plan_of(Endpoint::QueryRange, "query=up&start=0&end=600&step=1").unwrap_err();
        assert!(e.message.contains("minStep 10s"), "{e}");
        let e = plan_of(Endpoint::QueryRange, "query=up&start=0&end=600&step=0").unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
        let l = MetricsLimits {
            max_range: Duration::from_secs(7 * 86400),
            ..limits()
        };
        let params = Params::parse("query=up&start=0&end=200000&step=10", "").unwrap();
        let e = plan(&Endpoint::QueryRange, &params, &l, NOW).unwrap_err();
        assert!(e.message.contains("11,000 points"), "{e}");
        let e = plan_of(Endpoint::QueryRange, "query=up&start=10&end=0&step=10").unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
        assert!(plan_of(Endpoint::QueryRange, "query=up&end=0&step=10").is_err());
    }

    #[test]
    fn label_requests_are_scoped_and_bounded_in_time() {
        let p = plan_of(Endpoint::Labels, "").unwrap();
        assert_eq!(p.rewritten, r#"{namespace=~"shop"}"#);
        assert_eq!(p.range.length(), Duration::from_secs(3600));
        assert!(p.count.is_none());
        let e = plan_of(Endpoint::LabelValues("job".into()), "start=0").unwrap_err();
        assert!(e.message.contains("maxRange is 1h"), "{e}");
        assert!(plan_of(Endpoint::Series, "").is_err());
        let p = plan_of(Endpoint::Series, "match%5B%5D=up").unwrap();
        assert_eq!(p.count.unwrap().0, [r#"up{namespace=~"shop"}"#]);
    }
}
