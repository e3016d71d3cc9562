//! The write subresources and pod deletes over HTTP: evictions, deletes and `scale`, each
//! with and without `dryRun`, with bad bodies, preconditions and 404s; and their discovery.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::writes::{DEPLOY, EVICT, MERGE, SMP, assert_status, sans_version, write};
use super::{Reply, get, start};

#[tokio::test]
async fn evictions() {
    let s = start().await;
    let eviction = |version: &str, name: &str, options: Value| {
        json!({"apiVersion": version, "kind": "Eviction",
               "metadata": {"name": name, "namespace": "shop", "creationTimestamp": null},
               "deleteOptions": options})
        .to_string()
    };
    let ct = "application/json";
    let success = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    for bad in [
        "{".to_owned(),
        "[]".into(),
        eviction("policy/v1", "web-0", json!({})),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-7"}}).to_string(),
        json!({"kind": "Eviction", "metadata": {"name": "api-7", "namespace": "default"}})
            .to_string(),
        eviction("policy/v1", "api-7", json!({"dryRun": "All"})),
    ] {
        assert_status(
            &write(&s, Method::POST, EVICT, ct, &bad).await,
            400,
            "BadRequest",
        );
    }
    let dry_body = eviction("policy/v1", "api-7", json!({"dryRun": ["All"]}));
    let dry_query = eviction("policy/v1beta1", "api-7", json!({}));
    for (path, body) in [
        (EVICT.to_owned(), dry_body),
        (format!("{EVICT}?dryRun=All"), dry_query),
    ] {
        let r = write(&s, Method::POST, &path, ct, &body).await;
        assert_eq!((r.status, r.json()), (StatusCode::CREATED, success.clone()));
        assert!(s.pod_exists("shop", "api-7"), "a dry run evicts nothing");
    }
    let mismatch = eviction("policy/v1", "api-7", json!({"dryRun": ["All"]}));
    let r = write(
        &s,
        Method::POST,
        &format!("{EVICT}?dryRun=All&dryRun=All"),
        ct,
        &mismatch,
    )
    .await;
    assert_status(&r, 500, "InternalError");
    let stale = eviction(
        "policy/v1",
        "api-7",
        json!({"preconditions": {"uid": "other"}}),
    );
    assert_status(
        &write(&s, Method::POST, EVICT, ct, &stale).await,
        409,
        "Conflict",
    );
    assert_status(
        &write(&s, Method::GET, EVICT, ct, "").await,
        405,
        "MethodNotAllowed",
    );
    let real = eviction("policy/v1", "api-7", json!({}));
    let r = write(&s, Method::POST, EVICT, ct, &real).await;
    assert_eq!((r.status, r.json()), (StatusCode::CREATED, success));
    assert!(!s.pod_exists("shop", "api-7"));
    assert_status(
        &get(&s, "/api/v1/namespaces/shop/pods/api-7").await,
        404,
        "NotFound",
    );
    let again = write(&s, Method::POST, EVICT, ct, &real).await;
    assert_status(&again, 404, "NotFound");
    assert_eq!(again.json()["message"], "pods \"api-7\" not found");
    let w = s.writes();
    assert_eq!(
        w.iter()
            .filter(|w| w.method == Method::POST && !w.dry_run())
            .count(),
        9
    );
    assert_eq!(
        w.last().unwrap().body,
        real.as_bytes(),
        "the body is recorded"
    );
}

#[tokio::test]
async fn pod_deletes() {
    let s = start().await;
    let pod = "/api/v1/namespaces/default/pods/web-0";
    let ct = "application/json";
    let strip = |r: &Reply| {
        let mut v = sans_version(r);
        v["metadata"]
            .as_object_mut()
            .map(|m| m.remove("deletionTimestamp"));
        v
    };
    let q = write(&s, Method::DELETE, &format!("{pod}?dryRun=All"), "", "").await;
    let b = write(
        &s,
        Method::DELETE,
        pod,
        ct,
        r#"{"propagationPolicy":"Background","dryRun":["All"]}"#,
    )
    .await;
    assert!(s.pod_exists("default", "web-0"));
    for bad in ["{", r#"{"dryRun":"All"}"#] {
        assert_status(
            &write(&s, Method::DELETE, pod, ct, bad).await,
            400,
            "BadRequest",
        );
    }
    let stale = r#"{"preconditions":{"resourceVersion":"1"}}"#;
    assert_status(
        &write(&s, Method::DELETE, pod, ct, stale).await,
        409,
        "Conflict",
    );
    let real = write(
        &s,
        Method::DELETE,
        pod,
        ct,
        r#"{"propagationPolicy":"Background"}"#,
    )
    .await;
    assert_eq!(
        (q.status, b.status, real.status),
        (StatusCode::OK, StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(strip(&q), strip(&real));
    assert_eq!(strip(&b), strip(&real));
    assert_eq!(real.json()["metadata"]["deletionGracePeriodSeconds"], 30);
    assert!(!s.pod_exists("default", "web-0"));
    let list = get(&s, "/api/v1/namespaces/default/pods").await.json();
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["metadata"]["name"] != "web-0")
    );
    assert_status(
        &write(&s, Method::DELETE, pod, "", "").await,
        404,
        "NotFound",
    );
    let now = write(
        &s,
        Method::DELETE,
        "/api/v1/namespaces/shop/pods/api-7?gracePeriodSeconds=0",
        "",
        "",
    )
    .await;
    assert!(now.json()["metadata"].get("deletionTimestamp").is_none());
}

#[tokio::test]
async fn scale_subresource() {
    let s = start().await;
    let scale = format!("{DEPLOY}/scale");
    let g = get(&s, &scale).await.json();
    assert_eq!(
        (g["kind"].as_str(), g["apiVersion"].as_str()),
        (Some("Scale"), Some("autoscaling/v1"))
    );
    assert_eq!(
        (
            g["spec"]["replicas"].as_i64(),
            g["status"]["selector"].as_str()
        ),
        (Some(1), Some("app=api"))
    );
    let three = r#"{"spec":{"replicas":3}}"#;
    let dry = write(
        &s,
        Method::PATCH,
        &format!("{scale}?dryRun=All"),
        MERGE,
        three,
    )
    .await;
    assert_eq!(s.deployment("shop", "api").unwrap()["spec"]["replicas"], 1);
    let real = write(&s, Method::PATCH, &scale, MERGE, three).await;
    assert_eq!(sans_version(&dry), sans_version(&real));
    assert_eq!(real.json()["spec"]["replicas"], 3);
    assert_eq!(s.deployment("shop", "api").unwrap()["spec"]["replicas"], 3);
    assert_status(
        &write(&s, Method::PATCH, &scale, "text/plain", three).await,
        415,
        "UnsupportedMediaType",
    );
    let r = write(
        &s,
        Method::PATCH,
        &scale,
        MERGE,
        r#"{"spec":{"replicas":-2}}"#,
    )
    .await;
    assert_status(&r, 422, "Invalid");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("Scale.autoscaling \"api\" is invalid")
    );
    // PUT: the whole Scale, name checked, resourceVersion a precondition.
    let mut body = real.json();
    body["spec"]["replicas"] = json!(5);
    let ct = "application/json";
    let r = write(&s, Method::PUT, &scale, ct, &body.to_string()).await;
    assert_eq!(
        (r.status, r.json()["spec"]["replicas"].as_i64()),
        (StatusCode::OK, Some(5))
    );
    assert_status(
        &write(&s, Method::PUT, &scale, ct, &body.to_string()).await,
        409,
        "Conflict",
    );
    let renamed = json!({"metadata": {"name": "other"}, "spec": {"replicas": 1}}).to_string();
    assert_status(
        &write(&s, Method::PUT, &scale, ct, &renamed).await,
        400,
        "BadRequest",
    );
    let sts = "/apis/apps/v1/namespaces/default/statefulsets/web/scale";
    let r = write(&s, Method::PATCH, sts, SMP, three).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        s.statefulset("default", "web").unwrap()["spec"]["replicas"],
        3
    );
    assert_status(
        &get(&s, "/apis/apps/v1/namespaces/shop/deployments/nope/scale").await,
        404,
        "NotFound",
    );
    assert_status(
        &get(&s, "/api/v1/namespaces/shop/pods/api-7/scale").await,
        404,
        "NotFound",
    );
    assert_status(
        &write(&s, Method::POST, &scale, MERGE, three).await,
        405,
        "MethodNotAllowed",
    );
}

#[tokio::test]
async fn discovery_lists_the_write_subresources_and_nodes() {
    let s = start().await;
    let find = |list: &Value, name: &str| {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    let core = get(&s, "/api/v1").await.json();
    let e = find(&core, "pods/eviction");
    assert_eq!(
        (
            e["group"].as_str(),
            e["version"].as_str(),
            e["kind"].as_str()
        ),
        (Some("policy"), Some("v1"), Some("Eviction"))
    );
    assert_eq!(find(&core, "nodes")["namespaced"], false);
    let apps = get(&s, "/apis/apps/v1").await.json();
    for name in ["deployments/scale", "statefulsets/scale"] {
        let sc = find(&apps, name);
        assert_eq!(
            (sc["group"].as_str(), sc["kind"].as_str()),
            (Some("autoscaling"), Some("Scale"))
        );
        assert_eq!(sc["verbs"], json!(["get", "patch", "update"]));
    }
    assert_eq!(
        find(&apps, "deployments")["verbs"],
        json!(["get", "list", "patch", "watch"])
    );
    let nodes = get(&s, "/api/v1/nodes").await.json();
    assert_eq!(nodes["items"].as_array().unwrap().len(), 2);
}
