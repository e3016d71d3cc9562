//! Allowed requests: answers hold only the caller's namespaces, and equal what Prometheus
//! itself answers for the scoped query.

use std::collections::BTreeSet;

use crate::support::*;

const RATE_5XX: &str = r#"sum(rate(http_requests_total{status=~"5.."}[5m])) by (service)"#;

fn services(result: &[serde_json::Value]) -> BTreeSet<String> {
    result
        .iter()
        .map(|s| s["metric"]["service"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn a_grafana_style_range_query_answers_only_the_callers_namespaces() {
    let bed = testbed().await;
    let a = post(&bed, 0, "query_range", &range_form(RATE_5XX, 30, "15")).await;
    let got = services(a.result());
    assert_eq!(
        got,
        BTreeSet::from(["cart".into(), "checkout".into(), "ledger".into()]),
        "{}",
        a.json
    );
    // The same data Prometheus gives for the query scoped by hand.
    let scoped = r#"sum(rate(http_requests_total{status=~"5..",namespace=~"shop|payments-.*"}[5m])) by (service)"#;
    let want = direct(scoped, 30, "15").await;
    assert_eq!(a.json["data"], want["data"]);
    // The spike is there: cart's 5xx rate ends far above its start.
    let cart = a
        .result()
        .iter()
        .find(|s| s["metric"]["service"] == "cart")
        .expect("cart");
    let values = cart["values"].as_array().expect("values");
    let rate = |v: &serde_json::Value| v[1].as_str().unwrap().parse::<f64>().unwrap();
    assert!(
        rate(values.last().unwrap()) > 5.0 * rate(&values[0]),
        "{cart}"
    );
    // Prometheus unscoped would have shown the other namespace's service.
    let everything = direct(RATE_5XX, 30, "15").await;
    assert!(everything.to_string().contains("secret-svc"));
}

#[tokio::test]
async fn an_instant_get_query_and_label_endpoints_are_scoped() {
    let bed = testbed().await;
    let a = get(&bed, 0, "query?query=up").await;
    let namespaces: BTreeSet<&str> = a
        .result()
        .iter()
        .map(|s| s["metric"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, BTreeSet::from(["shop", "payments-eu"]));
    let values = get(&bed, 0, "label/namespace/values").await;
    assert_eq!(values.status, 200, "{}", values.json);
    assert_eq!(
        values.json["data"],
        serde_json::json!(["payments-eu", "shop"])
    );
    let jobs = get(&bed, 0, "label/job/values?match[]=up").await;
    assert!(
        !jobs.json.to_string().contains("secret-svc"),
        "{}",
        jobs.json
    );
    let series = post(&bed, 0, "series", &[("match[]", "up".into())]).await;
    assert_eq!(series.status, 200, "{}", series.json);
    assert_eq!(series.json["data"].as_array().unwrap().len(), 3);
    let labels = get(&bed, 0, "labels").await;
    assert!(
        labels.json["data"]
            .as_array()
            .unwrap()
            .contains(&"service".into())
    );
    let meta = get(&bed, 0, "metadata").await;
    assert_eq!(meta.status, 200, "{}", meta.json);
}

#[tokio::test]
async fn label_values_that_hold_secrets_are_redacted() {
    let bed = testbed().await;
    let a = get(&bed, 0, "query?query=build_info").await;
    assert_eq!(a.result().len(), 1, "{}", a.json);
    let text = a.json.to_string();
    assert!(!text.contains(&planted_secret()), "{text}");
    assert!(text.contains("REDACTED"), "{text}");
}

#[tokio::test]
async fn an_answer_over_max_result_bytes_is_cut_with_the_warning() {
    let bed = testbed().await;
    let full = post(&bed, 0, "query_range", &range_form("up", 10, "15")).await;
    assert_eq!(full.result().len(), 3, "{}", full.json);
    assert!(full.json["warnings"].is_null(), "{}", full.json);
    let small = post(&bed, 3, "query_range", &range_form("up", 10, "15")).await;
    assert_eq!(small.status, 200, "{}", small.json);
    // The gateway's body is this value serialised the same way (sorted keys, compact).
    let len = serde_json::to_vec(&small.json).unwrap().len();
    assert!(len <= 2048, "{len} bytes");
    let cut = &small.json;
    assert_eq!(cut["warnings"][0], "results truncated due to limit");
    let kept = cut["data"]["result"].as_array().unwrap();
    assert!(!kept.is_empty() && kept.len() < 3, "{cut}");
    assert_eq!(kept[0], full.result()[0]);
}
