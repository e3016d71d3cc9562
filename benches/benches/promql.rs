//! The Prometheus gateway's per-query CPU before anything reaches the backend: parse the
//! PromQL, check every selector and the time it reads, inject the namespace matcher and
//! re-serialise (`proxy_core::prometheus::promql::check_query`), and the whole request plan
//! (parameters, step, form; `plan::plan`). One query per iteration, on one core.
//!
//! Run: `cargo bench -p kubewitness-benches --bench promql -- --warm-up-time 1 --measurement-time 3`
//! Medians on the 2-core shared machine (load 2–9; `BENCHMARKS.md`, section "promql"):
//! check + rewrite 26.4 µs (`selector`, 37,800 queries/s), 54.7 µs (`rate_by`, 18,300/s),
//! 42.9 µs (`quantile`), 87.4 µs (`ratio_subquery`, 11,400/s); the whole plan adds 1–2 µs.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use proxy_core::policy::{Glob, MetricsLimits};
use proxy_core::prometheus::plan::plan;
use proxy_core::prometheus::promql::{Interval, check_query};
use proxy_core::prometheus::{Endpoint, Params};
use proxy_core::request::percent_encode;

/// Queries of the shapes Grafana dashboards and agents send, short to long.
const QUERIES: &[(&str, &str)] = &[
    ("selector", r#"up{job="api"}"#),
    (
        "rate_by",
        r#"sum(rate(http_requests_total{status=~"5.."}[5m])) by (service)"#,
    ),
    (
        "quantile",
        r#"histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket{service=~"cart|checkout", method!="OPTIONS"}[5m])))"#,
    ),
    (
        "ratio_subquery",
        r#"max_over_time((sum by (service) (rate(http_requests_total{status=~"5.."}[1m])) / on (service) group_left sum by (service) (rate(http_requests_total[1m])))[30m:1m]) > 0.05 or vector(0)"#,
    ),
];

fn limits() -> MetricsLimits {
    MetricsLimits {
        namespaces: ["shop", "payments-*", "checkout-eu", "checkout-us"]
            .iter()
            .map(|g| Glob::new(g).expect("glob"))
            .collect(),
        max_range: Duration::from_secs(6 * 3600),
        min_step: Duration::from_secs(10),
        max_series: 50_000,
        max_result_bytes: 1 << 20,
        timeout: Duration::from_secs(30),
        queries_per_minute: 30,
    }
}

fn bench(c: &mut Criterion) {
    let limits = limits();
    let end = 1_700_000_000_000;
    let eval = Interval {
        from_ms: end - 30 * 60_000,
        to_ms: end,
    };
    let mut g = c.benchmark_group("promql_check_rewrite");
    g.throughput(Throughput::Elements(1));
    for (name, q) in QUERIES {
        g.bench_with_input(BenchmarkId::from_parameter(name), q, |b, q| {
            b.iter(|| check_query(black_box(q), eval, &limits).expect("allowed"))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("promql_plan_range_request");
    g.throughput(Throughput::Elements(1));
    for (name, q) in QUERIES {
        let query = format!(
            "query={}&start={}&end={}&step=15",
            percent_encode(q),
            eval.from_ms / 1000,
            end / 1000
        );
        g.bench_with_input(BenchmarkId::from_parameter(name), &query, |b, query| {
            b.iter(|| {
                let params = Params::parse(black_box(query), "").expect("params");
                plan(&Endpoint::QueryRange, &params, &limits, end).expect("allowed")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
