//! `prom_query` through the official Python MCP client, against a real Prometheus (the
//! distribution's `prometheus`, started and backfilled by the Prometheus gateway tests'
//! helpers): the same data the HTTP gateway answers for the same query, only the caller's
//! namespaces, and every limit refusing as a tool error that names it.

use std::path::Path;

use kubewitness_sim::testbed::Testbed;
use serde_json::{Value, json};

use crate::bed::{call, recording_ids, run_client, tool_names, verified};
use crate::prom_support::{PROMETHEUS, PROMTOOL, get, post, testbed};
use crate::support::python_has;

const RATE_5XX: &str = r#"sum(rate(http_requests_total{status=~"5.."}[5m])) by (service)"#;

/// Whether the Debian `prometheus` package is installed; in CI it must be.
fn prometheus_installed() -> bool {
    let installed = Path::new(PROMETHEUS).exists() && Path::new(PROMTOOL).exists();
    assert!(
        installed || std::env::var_os("CI").is_none(),
        "{PROMETHEUS} and {PROMTOOL} are required in CI (.ci/run installs them)"
    );
    if !installed {
        eprintln!("skipped: {PROMETHEUS} is not installed (apt-get install prometheus)");
    }
    installed
}

fn spec(bed: &Testbed, who: usize, calls: Value) -> Value {
    json!({
        "transport": "http",
        "url": format!("https://{}/mcp", bed.addr),
        "token": bed.callers[who].token,
        "ca": bed.dir().join("ca.crt").display().to_string(),
        "calls": calls,
    })
}

/// `key=value` of the tool's header line (`range query start=… end=… step=…s`).
#[track_caller]
fn header(text: &str, key: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    first
        .split(' ')
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {first:?}"))
        .trim_end_matches('s')
        .to_string()
}

/// The tool's line for the series with `labels`, checked against the gateway's own series
/// `s`: count, min, max and last as Prometheus wrote them, the mean, and every point shown
/// taken from the series (the first and last among them).
#[track_caller]
fn check_series(text: &str, s: &Value) {
    let metric = s["metric"].as_object().expect("labels");
    let labels: Vec<String> = metric
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().expect("a string")))
        .collect();
    let prefix = format!("{{{}}} ", labels.join(", "));
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for {prefix}: {text}"));
    let values: Vec<(String, &str)> = s["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|p| (p[0].to_string(), p[1].as_str().expect("a value")))
        .collect();
    let nums: Vec<f64> = values
        .iter()
        .map(|v| v.1.parse().expect("a number"))
        .collect();
    let pick = |f: fn(f64, f64) -> f64| {
        let want = nums.iter().copied().reduce(f).expect("points");
        values[nums.iter().position(|n| *n == want).expect("there")].1
    };
    let field = |name: &str| {
        line.split(' ')
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    assert_eq!(field("n"), values.len().to_string(), "{line}");
    assert_eq!(field("min"), pick(f64::min), "{line}");
    assert_eq!(field("max"), pick(f64::max), "{line}");
    assert_eq!(field("last"), values.last().expect("points").1, "{line}");
    let mean = nums.iter().sum::<f64>() / nums.len() as f64;
    let avg: f64 = field("avg").parse().expect("avg");
    assert!(
        (avg - mean).abs() <= 1e-9 * mean.abs().max(1.0),
        "{avg} vs {mean}"
    );
    let shown: Vec<&str> = line
        .split(" points: ")
        .nth(1)
        .expect("points")
        .split(' ')
        .collect();
    assert!(shown.len() >= 2 && shown.len() <= 6, "{line}");
    for p in &shown {
        let (t, v) = p.split_once('=').expect("t=v");
        assert!(
            values.contains(&(t.to_string(), v)),
            "{p} is not a point of {s}"
        );
    }
    let (t0, v0) = &values[0];
    assert_eq!(shown[0], format!("{t0}={v0}"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prom_query_answers_what_the_http_gateway_answers_and_refuses_over_limits() {
    if !python_has("mcp").await || !prometheus_installed() {
        return;
    }
    let bed = testbed().await;
    let tool = |id: &str, args: Value| json!({"id": id, "tool": "prom_query", "arguments": args});
    let calls = json!([
        tool(
            "rate",
            json!({"query": RATE_5XX, "range_seconds": 1800, "step_seconds": 15})
        ),
        tool("up", json!({"query": "up"})),
        tool("everything", json!({"query": r#"{__name__=~".+"}"#})),
        tool("week", json!({"query": "up", "range_seconds": 7 * 86400})),
        tool(
            "lookback",
            json!({"query": "rate(http_requests_total[2h])", "range_seconds": 600})
        ),
        tool("many", json!({"query": "hc_series", "range_seconds": 600})),
    ]);
    // alice (group sre): metrics of shop and payments-*, nothing else.
    let out = run_client(bed.dir(), &spec(&bed, 0, calls)).await;
    assert_eq!(tool_names(&out), ["prom_query"]);
    let desc = out["tools"][0]["description"]
        .as_str()
        .expect("a description");
    assert!(
        desc.contains("namespaces [shop, payments-*]") && desc.contains("at least 10 s"),
        "{desc}"
    );
    assert_eq!(
        out["tools"][0]["inputSchema"]["properties"]["step_seconds"]["minimum"],
        5
    );

    let (err, text) = call(&out, "rate");
    assert!(!err, "{text}");
    let form = [
        ("query", RATE_5XX.to_string()),
        ("start", header(text, "start")),
        ("end", header(text, "end")),
        ("step", header(text, "step")),
    ];
    let http = post(&bed, 0, "query_range", &form).await;
    let series = http.result();
    assert_eq!(series.len(), 3, "{}", http.json);
    assert!(text.contains("\n3 series\n"), "{text}");
    for s in series {
        check_series(text, s);
    }
    assert!(
        !text.contains("secret-svc") && !text.contains("other"),
        "{text}"
    );

    let (err, text) = call(&out, "up");
    assert!(!err, "{text}");
    let instant = get(
        &bed,
        0,
        &format!("query?query=up&time={}", header(text, "time")),
    )
    .await;
    let result = instant.result();
    assert_eq!(result.len(), 3, "{}", instant.json);
    for s in result {
        let (job, ns) = (&s["metric"]["job"], &s["metric"]["namespace"]);
        let value = s["value"][1].as_str().expect("a value");
        let line = format!("up{{job={job}, namespace={ns}}} value={value} at ");
        assert!(text.contains(&line), "{line} in {text}");
    }
    assert!(!text.contains("secret-svc"), "{text}");

    for (id, limit) in [
        ("everything", "names no metric"),
        ("week", "range_seconds: 604800 is outside 60..=3600"),
        ("lookback", "maxRange is 1h"),
        ("many", "maxSeries is 50000"),
    ] {
        let (err, text) = call(&out, id);
        assert!(err && text.contains(limit), "{id}: {text}");
    }
    let (_, text) = call(&out, "lookback");
    assert!(
        text.contains("Your policy allows metrics of namespaces [shop, payments-*]"),
        "{text}"
    );

    // Both recordings of the call verify: the tool call's, and the gateway's `metrics` one.
    let (_, text) = call(&out, "rate");
    let (mcp, metrics) = recording_ids(text);
    verified(&bed, &mcp).await;
    verified(&bed, &metrics.expect("the metrics recording")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prom_query_is_not_offered_without_a_metrics_grant() {
    if !python_has("mcp").await || !prometheus_installed() {
        return;
    }
    let bed = testbed().await;
    // carol reads pods in shop, and has no metrics: rule.
    let calls = json!([{"id": "q", "tool": "prom_query", "arguments": {"query": "up"}}]);
    let out = run_client(bed.dir(), &spec(&bed, 2, calls)).await;
    assert!(
        !tool_names(&out).contains(&"prom_query".to_string()),
        "{out}"
    );
    let (err, text) = call(&out, "q");
    assert!(err && text.contains("not available to you"), "{text}");
}
