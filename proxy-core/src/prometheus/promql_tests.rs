use super::*;
use crate::policy::Glob;
use crate::prometheus::error::ErrorKind;

fn limits(max_range: Duration) -> MetricsLimits {
    MetricsLimits {
        namespaces: vec![Glob::new("shop").unwrap(), Glob::new("payments-*").unwrap()],
        max_range,
        min_step: Duration::from_secs(10),
        max_series: 50_000,
        max_result_bytes: 1 << 20,
        timeout: Duration::from_secs(30),
        queries_per_minute: 30,
    }
}

const END: i64 = 1_700_000_000_000;

fn over(minutes: i64) -> Interval {
    Interval {
        from_ms: END - minutes * 60_000,
        to_ms: END,
    }
}

fn ok(q: &str) -> Checked {
    check_query(q, over(30), &limits(Duration::from_secs(3600))).unwrap()
}

fn refused(q: &str, eval: Interval) -> GatewayError {
    check_query(q, eval, &limits(Duration::from_secs(1800))).unwrap_err()
}

const NS: &str = r#"namespace=~"shop|payments-.*""#;

#[test]
fn the_namespace_matcher_goes_into_every_selector() {
    let c = ok(r#"sum(rate(http_requests_total{status=~"5.."}[5m])) by (service)"#);
    assert_eq!(
        c.rewritten,
        format!(r#"sum by (service) (rate(http_requests_total{{{NS},status=~"5.."}}[5m]))"#)
    );
    assert_eq!(
        c.selectors,
        [format!(r#"http_requests_total{{{NS},status=~"5.."}}"#)]
    );
    let c = ok("up / on(instance) group_left node_info + scalar(count(up offset 5m))");
    assert_eq!(c.rewritten.matches(NS).count(), 3, "{}", c.rewritten);
    assert_eq!(c.selectors.len(), 2, "{:?}", c.selectors);
    let c = ok(r#"max_over_time(rate(x{job="a"}[1m])[10m:1m])"#);
    assert_eq!(c.rewritten.matches(NS).count(), 1, "{}", c.rewritten);
}

#[test]
fn the_rewritten_query_parses_back_to_itself() {
    for q in [
        r#"sum(rate(http_requests_total{status=~"5.."}[5m])) by (service)"#,
        r#"histogram_quantile(0.99, sum by (le) (rate(latency_bucket{path!="/x\"y"}[5m])))"#,
        "topk(3, up) or on() vector(0)",
        r#"count_values("v", build_info offset 1m)"#,
        "-up @ end() > bool 1",
        r#"label_replace(up, "a", "$1", "job", "(.*)")"#,
        "rate(x[5m:30s] offset 2m)",
        r#"{__name__="up", job="a"}"#,
    ] {
        let once = ok(q).rewritten;
        let parsed = parser::parse(&once).unwrap_or_else(|e| panic!("{once}: {e}"));
        assert_eq!(parsed.to_string(), once, "{q}");
        // Rewriting the rewritten query only adds a second, identical scope matcher.
        assert!(ok(&once).rewritten.matches(NS).count() >= 1);
    }
}

#[test]
fn selectors_that_could_read_everything_are_refused() {
    for q in [
        r#"{__name__=~".+"}"#,
        r#"{job=~"a.+"}"#,
        r#"{job!="a", env=~"p.+"}"#,
        r#"sum(rate({__name__=~"http_.*"}[5m]))"#,
        r#"{job="a" or job=~"b.+"}"#,
    ] {
        let e = refused(q, over(5));
        assert_eq!(e.kind, ErrorKind::Limit, "{q}");
        assert!(e.message.contains("names no metric"), "{q}: {e}");
    }
    // Selectors that match the empty string do not even parse (as in Prometheus).
    for q in [r#"{job=~".*"}"#, r#"{job=""}"#, r#"{job!="a"}"#] {
        assert_eq!(refused(q, over(5)).kind, ErrorKind::BadData, "{q}");
    }
    ok(r#"{job="api"}"#);
}

#[test]
fn another_namespace_is_refused_and_regexes_are_intersected() {
    let e = refused(r#"up{namespace="other"}"#, over(5));
    assert_eq!(e.kind, ErrorKind::Forbidden);
    assert!(e.message.contains("\"other\""), "{e}");
    let c = ok(r#"up{namespace="payments-eu"}"#);
    assert!(c.rewritten.contains(r#"namespace="payments-eu""#));
    let c = ok(r#"up{namespace=~"oth.*"}"#);
    assert!(c.rewritten.contains(NS), "{}", c.rewritten);
}

#[test]
fn long_and_broken_queries_are_bad_data() {
    let long = format!("up{{job=\"{}\"}}", "a".repeat(5000));
    let e = refused(&long, over(5));
    assert_eq!(e.kind, ErrorKind::BadData);
    assert!(e.message.contains("limit is 1000"), "{e}");
    let e = refused("sum(rate(up[5m]", over(5));
    assert_eq!(e.kind, ErrorKind::BadData);
    assert!(e.message.starts_with("parse error"), "{e}");
    assert_eq!(refused("  ", over(5)).kind, ErrorKind::BadData);
}

#[test]
fn every_lookback_counts_against_max_range() {
    // 30 m allowed: a 30 m range is fine, plus a 5 m matrix is not.
    check_query("up", over(30), &limits(Duration::from_secs(1800))).unwrap();
    let e = refused("rate(up[5m])", over(30));
    assert!(
        e.message.contains("35m") && e.message.contains("maxRange is 30m"),
        "{e}"
    );
    assert!(refused("up", over(7 * 24 * 60)).message.contains("7d"));
    assert!(refused("up offset 1h", over(0)).message.contains("1h"));
    assert!(
        refused("max_over_time(up[1h:1m])", over(0))
            .message
            .contains("1h")
    );
    let e = refused("up @ 100", over(0));
    assert!(e.message.contains("maxRange"), "{e}");
    // @ end() and @ start() stay inside the evaluation interval.
    check_query("up @ start()", over(30), &limits(Duration::from_secs(1800))).unwrap();
    let c = check_query(
        "rate(up[10m] offset 5m)",
        over(0),
        &limits(Duration::from_secs(900)),
    )
    .unwrap();
    assert_eq!(c.reads.length(), Duration::from_secs(900));
}

#[test]
fn match_selectors_are_checked_and_scoped() {
    let l = limits(Duration::from_secs(3600));
    assert_eq!(
        check_match(r#"up{job="a"}"#, &l).unwrap(),
        format!(r#"up{{job="a",{NS}}}"#)
    );
    assert!(check_match("rate(up[5m])", &l).is_err());
    assert!(check_match(r#"{__name__=~".+"}"#, &l).is_err());
    assert_eq!(namespace_selector(&l), format!("{{{NS}}}"));
    let or = check_match(r#"{job="a" or job="b"}"#, &l).unwrap();
    assert_eq!(or.matches(NS).count(), 2, "{or}");
}

#[test]
fn durations_read_like_promql() {
    assert_eq!(human(Duration::from_secs(7 * 86_400)), "7d");
    assert_eq!(human(Duration::from_secs(5400)), "1h30m");
    assert_eq!(human(Duration::from_millis(1500)), "1s500ms");
}
