//! `kubewitness policy explain … promql 'QUERY' [--range D] [--step D]`: what the Prometheus
//! gateway would do with a query from this caller, offline: the rule that grants metrics,
//! the checks, the rewritten query sent to the backend and the selectors whose series are
//! counted first (the count itself needs the backend). It runs the gateway's own planning
//! code (`proxy_core::prometheus::plan`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use proxy_core::policy::{MetricsLimits, Policy};
use proxy_core::prometheus::plan::plan;
use proxy_core::prometheus::promql::human;
use proxy_core::prometheus::{Endpoint, Params, params::parse_step};
use proxy_core::request::percent_encode;

use crate::Failure;
use crate::cli::ExplainArgs;

/// The query, its range (none: an instant query) and its step.
struct Words {
    query: String,
    range: Option<Duration>,
    step: Duration,
}

fn words(request: &[String]) -> Result<Words, Failure> {
    let usage = || {
        Failure::usage(anyhow!(
            "request: `promql QUERY [--range 30m] [--step 15s]`"
        ))
    };
    let [_, query, rest @ ..] = request else {
        return Err(usage());
    };
    let mut w = Words {
        query: query.clone(),
        range: None,
        step: Duration::from_secs(15),
    };
    let mut rest = rest;
    while let [flag, value, tail @ ..] = rest {
        let d = parse_step(value).map_err(|e| Failure::usage(anyhow!("{flag}: {e}")))?;
        match flag.as_str() {
            "--range" => w.range = Some(d),
            "--step" => w.step = d,
            _ => return Err(usage()),
        }
        rest = tail;
    }
    if rest.is_empty() { Ok(w) } else { Err(usage()) }
}

pub(crate) fn explain(policy: &Policy, args: &ExplainArgs) -> Result<(), Failure> {
    let w = words(&args.request)?;
    let (rule, limits) = match policy.metrics_grant(&args.user, &args.group) {
        Ok(g) => g,
        Err(e) => return denied("-", &e.0),
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    let mut query = format!("query={}", percent_encode(&w.query));
    let endpoint = match w.range {
        None => Endpoint::Query,
        Some(range) => {
            let start = now_ms / 1000 - range.as_secs() as i64;
            query.push_str(&format!(
                "&start={start}&end={}&step={}",
                now_ms / 1000,
                w.step.as_secs_f64()
            ));
            Endpoint::QueryRange
        }
    };
    let params = Params::parse(&query, "").map_err(|e| Failure::usage(anyhow!("{e}")))?;
    let plan = match plan(&endpoint, &params, &limits, now_ms) {
        Ok(p) => p,
        Err(e) => {
            return denied(
                &rule,
                &format!("{e} ({} {})", e.status().as_u16(), e.error_type()),
            );
        }
    };
    println!("allow");
    println!("request: promql {}", w.query);
    println!("rule: {rule}");
    println!("rewritten: {}", plan.rewritten);
    for (selector, reads) in plan
        .count
        .iter()
        .flat_map(|(s, r)| s.iter().map(move |s| (s, r)))
    {
        println!(
            "series counted first: {selector} over {} (at most maxSeries {})",
            human(reads.length()),
            limits.max_series
        );
    }
    print_limits(&limits);
    Ok(())
}

fn print_limits(l: &MetricsLimits) {
    println!(
        "limit: maxRange {}, minStep {}, maxSeries {}, maxResultBytes {}, timeout {}, queriesPerMinute {}",
        human(l.max_range),
        human(l.min_step),
        l.max_series,
        l.max_result_bytes,
        human(l.timeout),
        l.queries_per_minute
    );
}

fn denied(rule: &str, reason: &str) -> Result<(), Failure> {
    println!("deny\nrule: {rule}\nreason: {reason}");
    Err(Failure::denied())
}
