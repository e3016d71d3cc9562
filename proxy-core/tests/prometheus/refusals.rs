//! Refusals: each names the limit that refused, in Prometheus's error shape, before the
//! query reaches the backend's evaluator.

use crate::support::*;

#[tokio::test]
async fn every_limit_refuses_with_its_name() {
    let bed = testbed().await;
    let err = post(
        &bed,
        0,
        "query_range",
        &range_form(r#"{__name__=~".+"}"#, 5, "15"),
    )
    .await;
    assert!(err.error(422).contains("names no metric"));

    let err = post(
        &bed,
        0,
        "query_range",
        &range_form(r#"up{namespace="other"}"#, 5, "15"),
    )
    .await;
    let msg = err.error(403);
    assert!(msg.contains("\"other\"") && msg.contains("shop"), "{msg}");

    let week = post(
        &bed,
        0,
        "query_range",
        &range_form("up", 7 * 24 * 60, "3600"),
    )
    .await;
    let msg = week.error(422);
    assert!(
        msg.contains("7d") && msg.contains("maxRange is 1h"),
        "{msg}"
    );

    let step = post(&bed, 0, "query_range", &range_form("up", 5, "1")).await;
    assert!(step.error(422).contains("minStep 10s"));

    let wide = post(&bed, 0, "query_range", &range_form("hc_series", 10, "15")).await;
    let msg = wide.error(422);
    assert!(
        msg.contains("more than 50000 series") && msg.contains("maxSeries is 50000"),
        "{msg}"
    );

    let long = format!("up{{job=\"{}\"}}", "a".repeat(5000));
    let msg = post(&bed, 0, "query", &[("query", long)]).await.error(400);
    assert!(msg.contains("limit is 1000"), "{msg}");
}

#[tokio::test]
async fn a_syntax_error_is_a_400_in_prometheus_error_shape() {
    let bed = testbed().await;
    let a = post(
        &bed,
        0,
        "query_range",
        &range_form("sum(rate(up[5m])", 5, "15"),
    )
    .await;
    assert_eq!(a.json["errorType"], "bad_data");
    assert!(a.error(400).contains("parse error"));
    let unknown = get(&bed, 0, "admin/tsdb/snapshot").await;
    unknown.error(404);
}

#[tokio::test]
async fn callers_without_a_grant_and_over_their_rate_are_refused() {
    let bed = testbed().await;
    let carol = get(&bed, 2, "query?query=up").await;
    assert!(
        carol
            .error(403)
            .contains("no rule grants metrics to user carol")
    );
    for _ in 0..2 {
        assert_eq!(get(&bed, 1, "query?query=up").await.status, 200);
    }
    let limited = get(&bed, 1, "query?query=up").await;
    assert!(limited.error(429).contains("queriesPerMinute of 2"));
    assert!(limited.retry_after.is_some());
    // Unauthenticated callers never reach the gateway.
    let res = client(&bed)
        .get(format!("{}/prometheus/api/v1/query?query=up", bed.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}
