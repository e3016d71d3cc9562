use bytes::Bytes;
use http::{Method, StatusCode};

use super::{bearer, get, send, start};

const AGGREGATED_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

#[tokio::test]
async fn discovery_answers_legacy_json_to_an_aggregated_request() {
    let server = start().await;
    let auth = bearer(&server);
    for h2 in [false, true] {
        let r = send(
            &server,
            Method::GET,
            "/api",
            &[("authorization", &auth), ("accept", AGGREGATED_ACCEPT)],
            None,
            h2,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.json()["kind"], "APIVersions");
        assert_eq!(r.json()["versions"][0], "v1");
    }
    let apis = get(&server, "/apis").await.json();
    assert_eq!(apis["kind"], "APIGroupList");
    assert!(
        apis["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "apps")
    );
    let v1 = get(&server, "/api/v1").await.json();
    assert_eq!(v1["groupVersion"], "v1");
    let names: Vec<&str> = v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for want in [
        "pods",
        "pods/exec",
        "pods/attach",
        "pods/log",
        "pods/portforward",
        "namespaces",
        "events",
        "secrets",
        "configmaps",
        "services",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert_eq!(
        get(&server, "/apis/apps/v1").await.json()["groupVersion"],
        "apps/v1"
    );
    assert_eq!(get(&server, "/version").await.json()["minor"], "32");
    assert_eq!(
        get(&server, "/apis/batch/v1").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn unauthenticated_requests_get_401_and_are_recorded() {
    let server = start().await;
    let r = send(
        &server,
        Method::GET,
        "/api/v1/pods",
        &[("authorization", "Bearer wrong")],
        None,
        false,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let s = r.json();
    assert_eq!(
        (s["kind"].as_str(), s["code"].as_u64(), s["reason"].as_str()),
        (Some("Status"), Some(401), Some("Unauthorized"))
    );
    let r = send(
        &server,
        Method::GET,
        "/api/v1/namespaces/default/pods/web-0/exec?command=true&stdout=1",
        &[],
        None,
        false,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let recorded = server.requests();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].uri.path(), "/api/v1/pods");
    assert_eq!(recorded[0].headers["authorization"], "Bearer wrong");
    assert_eq!(recorded[1].method, Method::GET);
}

#[tokio::test]
async fn pods_list_get_select_and_404() {
    let server = start().await;
    let all = get(&server, "/api/v1/pods").await.json();
    assert_eq!(all["kind"], "PodList");
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let shop = get(
        &server,
        "/api/v1/namespaces/shop/pods?labelSelector=app%3Dapi",
    )
    .await
    .json();
    assert_eq!(shop["items"][0]["metadata"]["name"], "api-7");
    let none = get(
        &server,
        "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb",
    )
    .await
    .json();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let pod = get(&server, "/api/v1/namespaces/default/pods/web-0")
        .await
        .json();
    assert_eq!(
        (pod["kind"].as_str(), pod["status"]["phase"].as_str()),
        (Some("Pod"), Some("Running"))
    );
    let missing = get(&server, "/api/v1/namespaces/default/pods/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["message"], "pods \"nope\" not found");
    let bad = get(&server, "/api/v1/pods?labelSelector=app%3D%3D%3D").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let ns = get(&server, "/api/v1/namespaces/shop").await.json();
    assert_eq!(ns["metadata"]["labels"]["debug-ai-exec"], "enabled");
    let field = get(&server, "/api/v1/pods?fieldSelector=metadata.name%3Dweb-0")
        .await
        .json();
    assert_eq!(field["items"].as_array().unwrap().len(), 1);
    for path in [
        "/api/v1/namespaces/shop/secrets",
        "/api/v1/namespaces/default/events",
        "/api/v1/configmaps",
        "/apis/apps/v1/namespaces/shop/deployments/api",
    ] {
        assert_eq!(get(&server, path).await.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn table_output_and_delete() {
    let server = start().await;
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let r = send(
        &server,
        Method::GET,
        "/api/v1/namespaces/shop/pods",
        &[("authorization", &bearer(&server)), ("accept", accept)],
        None,
        true,
    )
    .await;
    assert_eq!(
        r.headers["content-type"],
        "application/json;as=Table;v=v1;g=meta.k8s.io"
    );
    let t = r.json();
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["rows"][0]["cells"][0], "api-7");
    assert_eq!(t["rows"][0]["cells"][1], "2/2");
    assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "shop");
    let d = send(
        &server,
        Method::DELETE,
        "/api/v1/namespaces/shop/pods/api-7",
        &[("authorization", &bearer(&server))],
        None,
        false,
    )
    .await;
    assert_eq!(d.status, StatusCode::OK);
    assert!(d.json()["metadata"]["deletionTimestamp"].is_string());
    assert!(server.requests().iter().any(|r| r.method == Method::DELETE));
    let ns = send(
        &server,
        Method::DELETE,
        "/api/v1/namespaces/shop",
        &[("authorization", &bearer(&server))],
        None,
        false,
    )
    .await;
    assert_eq!(ns.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn token_reviews() {
    let mut cfg = super::super::SimConfig::default();
    let token = ["sim", "user", "token"].join("-");
    cfg.token_reviews.push((
        token.clone(),
        "alice".into(),
        Some("u-1".into()),
        vec!["devs".into()],
    ));
    let server = super::super::SimServer::start(cfg).await.unwrap();
    let review = |t: &str| {
        Bytes::from(serde_json::to_vec(&serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": t}})).unwrap())
    };
    let path = "/apis/authentication.k8s.io/v1/tokenreviews";
    let auth = bearer(&server);
    let ok = send(
        &server,
        Method::POST,
        path,
        &[("authorization", &auth)],
        Some(review(&token)),
        false,
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let v = ok.json();
    assert_eq!(v["status"]["authenticated"], true);
    assert_eq!(v["status"]["user"]["username"], "alice");
    assert_eq!(v["status"]["user"]["groups"][0], "devs");
    let unknown = send(
        &server,
        Method::POST,
        path,
        &[("authorization", &auth)],
        Some(review("other")),
        false,
    )
    .await
    .json();
    assert_eq!(unknown["status"]["authenticated"], false);
    let garbage = send(
        &server,
        Method::POST,
        path,
        &[("authorization", &auth)],
        Some(Bytes::from_static(b"{")),
        false,
    )
    .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn watch_sends_added_events_then_ends_at_the_timeout() {
    let server = start().await;
    let r = get(
        &server,
        "/api/v1/namespaces/shop/pods?watch=true&timeoutSeconds=1",
    )
    .await;
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "api-7");
}
