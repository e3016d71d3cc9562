use http::Method;

use super::*;

/// `ok!(METHOD, "path?query" => verb, group, ns, resource, name, sub)`
macro_rules! ok {
    ($m:ident, $url:expr => $verb:expr, $group:expr, $ns:expr, $res:expr, $name:expr, $sub:expr) => {{
        let (path, query) = split($url);
        let info = RequestInfo::classify(&Method::$m, path, query)
            .unwrap_or_else(|e| panic!("{} {}: {e}", stringify!($m), $url));
        assert_eq!(info.verb, $verb, "{}", $url);
        let r = info
            .resource()
            .unwrap_or_else(|| panic!("{}: not a resource", $url));
        assert_eq!(r.group, $group, "{}", $url);
        assert_eq!(r.namespace.as_deref(), $ns, "{}", $url);
        assert_eq!(r.resource, $res, "{}", $url);
        assert_eq!(r.name.as_deref(), $name, "{}", $url);
        assert_eq!(r.subresource.as_deref(), $sub, "{}", $url);
    }};
}

macro_rules! refused {
    ($m:ident, $url:expr) => {{
        let (path, query) = split($url);
        assert!(
            RequestInfo::classify(&Method::$m, path, query).is_err(),
            "{} {} should be refused",
            stringify!($m),
            $url
        );
    }};
}

fn split(url: &str) -> (&str, &str) {
    url.split_once('?').unwrap_or((url, ""))
}

#[test]
fn resource_paths_are_read_like_the_api_server() {
    ok!(GET, "/api/v1/namespaces/shop/pods/api-7" => "get", "", Some("shop"), "pods", Some("api-7"), None);
    ok!(GET, "/api/v1/namespaces/shop/pods" => "list", "", Some("shop"), "pods", None, None);
    ok!(GET, "/api/v1/pods" => "list", "", None, "pods", None, None);
    ok!(GET, "/api/v1/namespaces/shop/pods?watch=1" => "watch", "", Some("shop"), "pods", None, None);
    ok!(GET, "/api/v1/namespaces/shop/pods?watch=true&resourceVersion=5" => "watch", "", Some("shop"), "pods", None, None);
    ok!(GET, "/api/v1/namespaces/shop/pods?watch=false" => "list", "", Some("shop"), "pods", None, None);
    ok!(GET, "/api/v1/watch/namespaces/shop/pods" => "watch", "", Some("shop"), "pods", None, None);
    // `?watch=` makes only a list a watch; a named GET stays a get (found by fuzzing: an
    // exec upgrade with `?watch=1` was a "watch" that the rebuilt upstream query was not).
    ok!(GET, "/api/v1/namespaces/shop/pods/api-7?watch=1" => "get", "", Some("shop"), "pods", Some("api-7"), None);
    ok!(GET, "/api/v1/watch/namespaces/shop/pods/api-7" => "watch", "", Some("shop"), "pods", Some("api-7"), None);
    ok!(GET, "/api/v1/namespaces/shop/pods/api-7/exec?command=ls&stdout=1&watch=1" => "create", "", Some("shop"), "pods", Some("api-7"), Some("exec"));
    ok!(POST, "/api/v1/namespaces/shop/pods/api-7/exec?command=ls" => "create", "", Some("shop"), "pods", Some("api-7"), Some("exec"));
    ok!(GET, "/api/v1/namespaces/shop/pods/api-7/exec?command=ls" => "create", "", Some("shop"), "pods", Some("api-7"), Some("exec"));
    ok!(GET, "/api/v1/namespaces/shop/pods/api-7/log?follow=true" => "get", "", Some("shop"), "pods", Some("api-7"), Some("log"));
    ok!(DELETE, "/api/v1/namespaces/shop/pods/api-7" => "delete", "", Some("shop"), "pods", Some("api-7"), None);
    ok!(DELETE, "/api/v1/namespaces/shop/pods" => "deletecollection", "", Some("shop"), "pods", None, None);
    ok!(PATCH, "/apis/apps/v1/namespaces/shop/deployments/web" => "patch", "apps", Some("shop"), "deployments", Some("web"), None);
    ok!(PUT, "/apis/apps/v1/namespaces/shop/deployments/web/scale" => "update", "apps", Some("shop"), "deployments", Some("web"), Some("scale"));
    ok!(GET, "/api/v1/namespaces/shop" => "get", "", None, "namespaces", Some("shop"), None);
    ok!(GET, "/api/v1/namespaces" => "list", "", None, "namespaces", None, None);
    ok!(PUT, "/api/v1/namespaces/shop/finalize" => "update", "", None, "namespaces", Some("shop"), Some("finalize"));
    ok!(GET, "/api/v1/namespaces/shop/secrets" => "list", "", Some("shop"), "secrets", None, None);
    ok!(POST, "/api/v1/namespaces/shop/pods/api-7/portforward" => "create", "", Some("shop"), "pods", Some("api-7"), Some("portforward"));
    ok!(GET, "/api/v1/namespaces/shop/services/web/proxy" => "get", "", Some("shop"), "services", Some("web"), Some("proxy"));
}

#[test]
fn non_resource_paths() {
    for p in [
        "/api",
        "/apis",
        "/api/v1",
        "/apis/apps",
        "/apis/apps/v1",
        "/version",
        "/openapi/v2",
        "/",
    ] {
        let info = RequestInfo::classify(&Method::GET, p, "").unwrap();
        assert!(matches!(info.target, Target::NonResource(_)), "{p}");
        assert_eq!(info.verb, "get");
    }
}

#[test]
fn confusing_paths_are_refused() {
    refused!(GET, "/api/v1/namespaces/shop/pods//api-7");
    refused!(GET, "/api/v1//namespaces/shop/pods");
    refused!(GET, "/api/v1/namespaces/shop/pods/api-7/");
    refused!(GET, "/api/v1/namespaces/shop/pods/../secrets");
    refused!(GET, "/api/v1/namespaces/shop/pods/./api-7");
    refused!(GET, "/api/v1/namespaces/shop/pods/api-7%2Fexec");
    refused!(GET, "/api/v1/namespaces/shop/pods/api-7%2fexec");
    refused!(GET, "/api/v1/namespaces/shop/pods/%61pi-7");
    refused!(GET, "/api/v1/namespaces/shop/pods/api-7\\exec");
    refused!(GET, "/API/v1/namespaces/shop/pods");
    refused!(GET, "/api/v1/namespaces/shop/Pods/api-7");
    refused!(GET, "/api/v1/namespaces/shop/pods/api-7/exec/extra");
    refused!(GET, "api/v1/namespaces/shop/pods");
    refused!(GET, "/api/v1/namespaces/shop/pods?watch=1&watch=0");
    refused!(POST, "/api/v1/watch/namespaces/shop/pods");
    refused!(OPTIONS, "/api/v1/namespaces/shop/pods");
    refused!(GET, "/api/v1/namespaces/sh op/pods");
    refused!(GET, "/api/v1/namespaces/shöp/pods");
    // Only v1 exists in the core group; streams are re-originated on /api/v1.
    refused!(
        POST,
        "/api/v2/namespaces/shop/pods/api-7/exec?command=ls&stdout=1"
    );
    refused!(GET, "/api/v1beta1/namespaces/shop/pods");
    // Query escapes Go's parser would drop, and argv kubewitness could not show faithfully.
    refused!(
        POST,
        "/api/v1/namespaces/shop/pods/api-7/exec?command=%+1&stdout=1"
    );
    refused!(
        POST,
        "/api/v1/namespaces/shop/pods/api-7/exec?command=%FF%FE&stdout=1"
    );
    refused!(
        POST,
        "/api/v1/namespaces/shop/pods/api-7/exec?command=a%00&stdout=1"
    );
    let long = format!("/api/v1/namespaces/{}/pods", "a".repeat(MAX_PATH_LEN));
    refused!(GET, long.as_str());
}

fn stream(method: Method, url: &str) -> Result<StreamRequest, Unclassifiable> {
    let (path, query) = split(url);
    let info = RequestInfo::classify(&method, path, query)?;
    StreamRequest::parse(&info, query)
}

#[test]
fn exec_parameters() {
    let r = stream(
        Method::POST,
        "/api/v1/namespaces/shop/pods/api-7/exec?command=sh&command=-c&command=echo%20hi&container=api&stdout=true&stderr=true",
    )
    .unwrap();
    assert_eq!(r.command, ["sh", "-c", "echo hi"]);
    assert_eq!(r.container.as_deref(), Some("api"));
    assert!(r.options.stdout && r.options.stderr && !r.options.stdin);
    assert_eq!(
        r.upstream_query(),
        "command=sh&command=-c&command=echo%20hi&container=api&stderr=true&stdout=true"
    );
    assert_eq!(r.upstream_path(), "/api/v1/namespaces/shop/pods/api-7/exec");
}

#[test]
fn exec_confusions_are_refused() {
    let base = "/api/v1/namespaces/shop/pods/api-7";
    assert!(stream(Method::POST, &format!("{base}/exec?stdout=true")).is_err());
    assert!(
        stream(
            Method::POST,
            &format!("{base}/exec?command=ls&container=a&container=b&stdout=1")
        )
        .is_err()
    );
    assert!(stream(Method::POST, &format!("{base}/exec?command=ls")).is_err());
    assert!(
        stream(
            Method::POST,
            &format!("{base}/attach?command=ls&stdout=true")
        )
        .is_err()
    );
    assert!(stream(Method::POST, &format!("{base}/portforward?ports=80")).is_err());
    assert!(stream(Method::POST, "/api/v1/pods/exec?command=ls&stdout=true").is_err());
    let attach = stream(
        Method::GET,
        &format!("{base}/attach?stdin=true&stdout=true&tty=true"),
    )
    .unwrap();
    assert!(attach.command.is_empty() && attach.options.tty);
}

#[test]
fn name_segments_outside_the_kubernetes_alphabet_are_refused() {
    for url in [
        "/api/v1/namespaces/shop/pods/app-1;x",
        "/api/v1/namespaces/shop/pods/app-1,x",
        "/api/v1/namespaces/shop/pods/app=1",
        "/api/v1/namespaces/sh@p/pods",
        "/api/v1/namespaces/shop/pods/app-1'/log",
        "/api/v1/namespaces/shop/pods/app~1",
        "/apis/app$/v1/deployments",
        "/version;x",
    ] {
        let err = RequestInfo::classify(&Method::GET, url, "").unwrap_err();
        assert!(
            err.0.contains("cannot appear in a Kubernetes name"),
            "{url}: {err}"
        );
    }
    // What real names use still passes.
    ok!(GET, "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:controller:job_x" => "get", "rbac.authorization.k8s.io", None, "clusterroles", Some("system:controller:job_x"), None);
    ok!(GET, "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/app-1.2" => "get", "metrics.k8s.io", Some("shop"), "pods", Some("app-1.2"), None);
}

#[test]
fn methods_are_the_apis_own_spelt_exactly() {
    for (method, path) in [
        ("GeT", "/apis/apps"),
        ("get", "/api/v1/namespaces/shop/pods"),
        ("OPTIONS", "/api"),
        ("TRACE", "/version"),
        ("CONNECT", "/api/v1/namespaces/shop/pods/a/exec"),
    ] {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let err = RequestInfo::classify(&m, path, "").unwrap_err();
        assert!(
            err.0.contains("not part of the Kubernetes API"),
            "{method} {path}: {err}"
        );
    }
    assert!(RequestInfo::classify(&Method::GET, "/apis/apps", "").is_ok());
}

#[test]
fn each_request_has_one_dispatch() {
    let cases = [
        ("POST", "/api/v1/namespaces/a/pods/p/exec", Dispatch::Exec),
        (
            "GET",
            "/api/v1/namespaces/a/pods/p/attach",
            Dispatch::Attach,
        ),
        ("GET", "/api/v1/namespaces/a/pods/p/log", Dispatch::Log),
        (
            "GET",
            "/api/v1/namespaces/a/pods/p/portforward",
            Dispatch::PortForward,
        ),
        (
            "POST",
            "/api/v1/namespaces/a/pods/p/portforward",
            Dispatch::PortForward,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/a/pods/p/ephemeralcontainers",
            Dispatch::EphemeralContainers,
        ),
        ("GET", "/api/v1/namespaces/a/pods/p", Dispatch::Other),
        (
            "GET",
            "/api/v1/namespaces/a/services/s/proxy",
            Dispatch::Other,
        ),
        (
            "GET",
            "/apis/example.com/v1/namespaces/a/pods/p/exec",
            Dispatch::Other,
        ),
        ("GET", "/healthz", Dispatch::Other),
    ];
    for (method, path, want) in cases {
        let method: Method = method.parse().unwrap();
        let info = RequestInfo::classify(&method, path, "").unwrap();
        assert_eq!(info.dispatch(), want, "{method} {path}");
        assert_eq!(
            info.dispatch().is_stream(),
            matches!(want, Dispatch::Exec | Dispatch::Attach)
        );
    }
}
