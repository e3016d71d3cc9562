//! `prom_query`: PromQL for an agent through the Prometheus gateway's own code path
//! ([`crate::prometheus::http::answer`]: grant, rate, parse and check, namespace injection,
//! series count, limits, redaction, audit, the `metrics` recording). What this adds is
//! only for the model: the time range made from `range_seconds`/`step_seconds`, and the
//! answer as a compact table — one line per series with its labels, a summary
//! (min/avg/max/last) and a few downsampled points.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::args::{MAX_QUERY_LEN, PromArgs, RANGE_SECONDS, STEP_SECONDS};
use super::kube::Refused;
use super::reply::Reply;
use super::{Caller, text::Keep};
use crate::policy::MetricsLimits;
use crate::prometheus::http::{Context, answer};
use crate::prometheus::{Endpoint, Params};
use crate::server::Proxy;

/// How many points of a series are shown besides the summary.
pub(crate) const POINTS_SHOWN: usize = 6;

/// The tool's description: what it does and the caller's own limits.
pub(crate) fn description(limits: &MetricsLimits, tail: &str) -> String {
    let namespaces: Vec<&str> = limits.namespaces.iter().map(|g| g.as_str()).collect();
    format!(
        "Run a read-only PromQL query (instant, or a range over the last range_seconds) and get one \
         line per series: its labels, min/avg/max/last and a few points. Only series of namespaces \
         [{}] are visible (the namespace matcher is added to every selector). Your limits: time read \
         (range plus lookbacks) at most {} s, step at least {} s, at most {} series matched, answers \
         at most {} bytes, {} queries per minute; every selector must name a metric. {tail}",
        namespaces.join(", "),
        limits.max_range.as_secs(),
        limits.min_step.as_secs(),
        limits.max_series,
        limits.max_result_bytes,
        limits.queries_per_minute,
    )
}

/// The strict schema, with the bounds [`super::args`] checks again.
pub(crate) fn schema() -> Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_LEN,
                      "description": "the PromQL expression"},
            "range_seconds": {"type": "integer", "minimum": RANGE_SECONDS.0, "maximum": RANGE_SECONDS.1,
                              "description": "query the last this many seconds (omit for an instant query)"},
            "step_seconds": {"type": "integer", "minimum": STEP_SECONDS.0, "maximum": STEP_SECONDS.1,
                             "description": "the resolution of a range query (default: about 60 points)"},
        },
        "required": ["query"],
        "additionalProperties": false,
    })
}

/// What the caller's grant allows, appended to a refusal.
pub(crate) fn allowed(limits: Option<&MetricsLimits>) -> String {
    match limits {
        Some(l) => {
            let ns: Vec<&str> = l.namespaces.iter().map(|g| g.as_str()).collect();
            format!(
                "\nYour policy allows metrics of namespaces [{}]: maxRange {} s, minStep {} s, maxSeries {}.",
                ns.join(", "),
                l.max_range.as_secs(),
                l.min_step.as_secs(),
                l.max_series
            )
        }
        None => "\nNo rule of your policy grants metrics.".into(),
    }
}

/// Runs the query as `caller` through the gateway and tabulates the answer.
pub(crate) async fn query(
    proxy: &Proxy,
    caller: &Caller,
    args: &PromArgs,
    limits: &MetricsLimits,
) -> Reply {
    let Some(gateway) = proxy.prometheus() else {
        return Reply::refused(Refused::new(
            "upstreamError",
            "kubewitness: no Prometheus backend is configured",
        ));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (endpoint, form, header) = plan(args, limits, now);
    let params = match Params::parse("", &form) {
        Ok(p) => p,
        Err(e) => return Reply::refused(Refused::new("invalid", format!("kubewitness: {e}"))),
    };
    let ctx = Context {
        gateway: Some(gateway),
        policy: proxy.policy(),
        recorder: proxy.recorder(),
        redactor: proxy.redactor(),
        audit: proxy.access().audit(),
        remote: caller.remote,
    };
    let answered = answer(gateway, &ctx, &caller.identity, &endpoint, &params).await;
    let body: Value = serde_json::from_slice(&answered.body).unwrap_or(Value::Null);
    let mut reply = if answered.status.is_success() {
        let rule = proxy
            .policy()
            .metrics_grant(&caller.identity.user, &caller.identity.groups)
            .ok()
            .map(|(rule, _)| rule);
        Reply::text(format!("{header}{}", table(&body)), rule)
    } else {
        let decision = match answered.status.as_u16() {
            403 | 422 => "denied",
            429 => "rateLimited",
            400 => "invalid",
            _ => "upstreamError",
        };
        let why = body["error"]
            .as_str()
            .unwrap_or("the metrics gateway failed");
        Reply::refused(Refused::new(
            decision,
            format!(
                "kubewitness: query refused ({} {}): {why}",
                answered.status.as_u16(),
                body["errorType"].as_str().unwrap_or("error")
            ),
        ))
    };
    reply.keep = Keep::Head;
    reply.linked = answered.recording;
    reply
}

/// The endpoint, the form and the header line: an instant query at `now`, or a range
/// ending at `now` rounded down to the step (so repeated calls read the same points).
fn plan(args: &PromArgs, limits: &MetricsLimits, now: u64) -> (Endpoint, String, String) {
    let q = crate::request::percent_encode(&args.query);
    let Some(range) = args.range_seconds else {
        return (
            Endpoint::Query,
            format!("query={q}&time={now}"),
            format!("instant query at time={now}\n"),
        );
    };
    let step = args.step_seconds.unwrap_or_else(|| {
        range
            .div_ceil(60)
            .max(limits.min_step.as_secs())
            .clamp(STEP_SECONDS.0, STEP_SECONDS.1)
    });
    let end = now - now % step;
    let start = end.saturating_sub(range);
    (
        Endpoint::QueryRange,
        format!("query={q}&start={start}&end={end}&step={step}"),
        format!("range query start={start} end={end} step={step}s\n"),
    )
}

/// One line per series: labels, then the summary and points; warnings first.
fn table(body: &Value) -> String {
    let mut out = String::new();
    for w in body["warnings"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "warning: {}", w.as_str().unwrap_or_default());
    }
    let data = &body["data"];
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("scalar" | "string") => {
            let _ = writeln!(
                out,
                "{}: {}",
                data["resultType"].as_str().unwrap_or(""),
                value(&result[1])
            );
        }
        _ => {
            let series = result.as_array().map_or(&[][..], Vec::as_slice);
            let _ = writeln!(out, "{} series", series.len());
            for s in series {
                let _ = writeln!(out, "{}", series_line(s));
            }
        }
    }
    out
}

/// `name{k="v", …} n=… min=… avg=… max=… last=… points: t=v …` (or `value=` for an instant);
/// the summary leaves NaN samples out.
pub(crate) fn series_line(s: &Value) -> String {
    let mut line = labels(&s["metric"]);
    if let Some(v) = s.get("value") {
        let _ = write!(line, " value={} at {}", value(&v[1]), value(&v[0]));
        return line;
    }
    let values = s["values"].as_array().map_or(&[][..], Vec::as_slice);
    let nums: Vec<(f64, &Value)> = values
        .iter()
        .filter_map(|p| Some((value(&p[1]).parse::<f64>().ok()?, p)))
        .filter(|(n, _)| !n.is_nan())
        .collect();
    let Some(last) = values.last() else {
        line.push_str(" n=0");
        return line;
    };
    let min = nums
        .iter()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map_or(String::new(), |m| value(&m.1[1]));
    let max = nums
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map_or(String::new(), |m| value(&m.1[1]));
    let avg = nums.iter().map(|n| n.0).sum::<f64>() / nums.len().max(1) as f64;
    let _ = write!(
        line,
        " n={} min={min} avg={avg} max={max} last={} points:",
        values.len(),
        value(&last[1])
    );
    for i in downsample(values.len(), POINTS_SHOWN) {
        let _ = write!(line, " {}={}", value(&values[i][0]), value(&values[i][1]));
    }
    line
}

/// Up to `k` indexes of `n`, evenly spaced, the first and the last included.
pub(crate) fn downsample(n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    let mut idx: Vec<usize> = (0..k).map(|i| i * (n - 1) / (k - 1)).collect();
    idx.dedup();
    idx
}

fn labels(metric: &Value) -> String {
    let Some(map) = metric.as_object() else {
        return "{}".into();
    };
    let name = map.get("__name__").and_then(Value::as_str).unwrap_or("");
    let pairs: Vec<String> = map
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or("")))
        .collect();
    format!("{name}{{{}}}", pairs.join(", "))
}

/// A sample's value or time as Prometheus wrote it.
fn value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_matrix_is_one_line_per_series_with_a_summary() {
        let body = json!({"status": "success", "warnings": ["results truncated due to limit"],
            "data": {"resultType": "matrix", "result": [
            {"metric": {"service": "cart", "namespace": "shop"},
             "values": [[1, "2"], [2, "1"], [3, "NaN"], [4, "6"]]}]}});
        let t = table(&body);
        assert_eq!(
            t,
            "warning: results truncated due to limit\n1 series\n\
             {namespace=\"shop\", service=\"cart\"} n=4 min=1 avg=3 max=6 last=6 points: 1=2 2=1 3=NaN 4=6\n"
        );
        let instant = json!({"data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "a"}, "value": [7, "1"]}]}});
        assert_eq!(table(&instant), "1 series\nup{job=\"a\"} value=1 at 7\n");
        assert_eq!(downsample(121, 6), [0, 24, 48, 72, 96, 120]);
        assert_eq!(downsample(3, 6), [0, 1, 2]);
    }

    #[test]
    fn a_range_ends_on_a_step() {
        let limits = crate::policy::Policy::from_yaml(
            "apiVersion: kubewitness/v1\nkind: Policy\nrules:\n- name: m\n  subjects: {users: [a]}\n  \
             metrics: {namespaces: [shop], minStep: 10s}\n",
        )
        .unwrap()
        .metrics_grant("a", &[])
        .unwrap()
        .1;
        let args = PromArgs {
            query: "up{a=\"b c\"}".into(),
            range_seconds: Some(1800),
            step_seconds: None,
        };
        let (e, form, header) = plan(&args, &limits, 1_000_027);
        assert_eq!(e, Endpoint::QueryRange);
        assert_eq!(header, "range query start=998220 end=1000020 step=30s\n");
        assert!(
            form.ends_with("&start=998220&end=1000020&step=30"),
            "{form}"
        );
        let p = Params::parse("", &form).unwrap();
        assert_eq!(p.one("query").unwrap(), Some("up{a=\"b c\"}"));
    }
}
