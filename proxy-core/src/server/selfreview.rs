//! `kubectl auth whoami` and `kubectl auth can-i`, answered by kubewitness.
//!
//! - `SelfSubjectReview` (`authentication.k8s.io` v1, v1beta1, v1alpha1): the identity
//!   kubewitness authenticated, never kubewitness's own account; nothing goes upstream.
//! - `SelfSubjectAccessReview`: the policy's decision (the same [`crate::policy::Policy::decide`]
//!   the request itself would get) AND the API server's answer for the impersonated caller;
//!   allowed only if both allow, with the rule in the reason.
//! - `SelfSubjectRulesReview` (`can-i --list`): what the policy allows, intersected with the
//!   rules the API server lists for the caller ([`super::rulesreview`]).

use crate::server::RequestBody;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde_json::{Value, json};

use super::respond::{self, ResponseBody};
use super::{Conn, Proxy};
use crate::auth::Identity;
use crate::channel::StreamOptions;
use crate::policy::{AUTHENTICATED_GROUP, Decision};
use crate::request::{RequestInfo, Resource, StreamRequest, Target};
use crate::upstream::Origin;

/// The largest review body read, either way.
pub(super) const MAX_REVIEW_BODY: usize = 64 * 1024;

/// The self reviews kubewitness answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Review {
    /// `SelfSubjectReview`.
    Subject,
    /// `SelfSubjectAccessReview`.
    Access,
    /// `SelfSubjectRulesReview`.
    Rules,
}

impl Review {
    /// Which review `info` creates, if any.
    pub(super) fn of(info: &RequestInfo) -> Option<Review> {
        let r = info.resource()?;
        if info.verb != "create" || r.namespace.is_some() || r.name.is_some() {
            return None;
        }
        match (r.group.as_str(), r.version.as_str(), r.resource.as_str()) {
            ("authentication.k8s.io", "v1" | "v1beta1" | "v1alpha1", "selfsubjectreviews") => {
                Some(Review::Subject)
            }
            ("authorization.k8s.io", "v1", "selfsubjectaccessreviews") => Some(Review::Access),
            ("authorization.k8s.io", "v1", "selfsubjectrulesreviews") => Some(Review::Rules),
            _ => None,
        }
    }
}

/// Answers a self review.
pub(super) async fn handle(
    review: Review,
    req: Request<RequestBody>,
    info: &RequestInfo,
    identity: &Identity,
    proxy: &Proxy,
    conn: &Conn,
) -> Response<ResponseBody> {
    let version = info.resource().map_or("v1", |r| r.version.as_str());
    if review == Review::Subject {
        return whoami(identity, version);
    }
    let (mut parts, body) = req.into_parts();
    let review_json = match read_review(&mut parts, body, review).await {
        Ok(v) => v,
        Err(why) => return respond::bad_request(format!("kubewitness: {why}")),
    };
    let body = Bytes::from(serde_json::to_vec(&review_json).unwrap_or_default());
    let origin = Origin::new(conn.remote.ip());
    let upstream = match ask_upstream(proxy, &parts, body, identity, &origin).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let answer = match review {
        Review::Access => access(proxy, identity, review_json, upstream).await,
        _ => super::rulesreview::rules(proxy, identity, review_json, upstream).await,
    };
    match answer {
        Ok(v) => created(&v),
        Err(why) => respond::bad_request(format!("kubewitness: {why}")),
    }
}

/// Reads the review the client sent (JSON, or the protobuf kubectl sends) as JSON, and
/// makes the upstream request JSON both ways.
async fn read_review(
    parts: &mut http::request::Parts,
    body: RequestBody,
    review: Review,
) -> Result<Value, String> {
    let body = Limited::new(body, MAX_REVIEW_BODY)
        .collect()
        .await
        .map_err(|e| format!("review body: {e}"))?
        .to_bytes();
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let value = if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        let kind = match review {
            Review::Access => "SelfSubjectAccessReview",
            _ => "SelfSubjectRulesReview",
        };
        let spec = super::reviewproto::spec(&body, review == Review::Access)?;
        json!({"kind": kind, "apiVersion": "authorization.k8s.io/v1", "spec": spec})
    } else {
        serde_json::from_slice(&body).map_err(|e| format!("invalid review: {e}"))?
    };
    let mut value = value;
    subresource_as_name(&mut value);
    let json = http::HeaderValue::from_static("application/json");
    parts
        .headers
        .insert(http::header::CONTENT_TYPE, json.clone());
    parts.headers.insert(http::header::ACCEPT, json);
    Ok(value)
}

/// The pod subresources a create can name.
const POD_SUBRESOURCES: &[&str] = &["exec", "attach", "portforward", "ephemeralcontainers"];

/// `kubectl auth can-i create pods/exec` reads `pods/exec` as RESOURCE/NAME and asks about
/// creating a pod named `exec`. A create names no object, so such a review is read, here and
/// upstream, as the subresource it means.
fn subresource_as_name(review: &mut Value) {
    let Some(a) = review
        .get_mut("spec")
        .and_then(|s| s.get_mut("resourceAttributes"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default();
    let named_sub = text("name");
    if text("verb") == "create"
        && text("resource") == "pods"
        && text("group").is_empty()
        && text("subresource").is_empty()
        && POD_SUBRESOURCES.contains(&named_sub)
    {
        let sub = json!(named_sub);
        a.remove("name");
        a.insert("subresource".into(), sub);
    }
}

/// The caller, as kubewitness authenticated it.
fn whoami(identity: &Identity, version: &str) -> Response<ResponseBody> {
    let mut groups = identity.groups.clone();
    if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        groups.push(AUTHENTICATED_GROUP.into());
    }
    let mut user = json!({"username": identity.user, "groups": groups});
    if let Some(uid) = &identity.uid {
        user["uid"] = json!(uid);
    }
    created(&json!({
        "kind": "SelfSubjectReview",
        "apiVersion": format!("authentication.k8s.io/{version}"),
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": user},
    }))
}

fn created(v: &Value) -> Response<ResponseBody> {
    let mut res = Response::new(respond::full(serde_json::to_vec(v).unwrap_or_default()));
    *res.status_mut() = StatusCode::CREATED;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res
}

/// Sends the review upstream as the caller; an error answer goes back to the client as is.
async fn ask_upstream(
    proxy: &Proxy,
    parts: &http::request::Parts,
    body: Bytes,
    identity: &Identity,
    origin: &Origin,
) -> Result<Value, Response<ResponseBody>> {
    let res = match proxy.upstream.forward(parts, body, identity, origin).await {
        Ok(res) => res,
        Err(e) => return Err(respond::upstream_failed(&e)),
    };
    let status = res.status();
    let (head, body) = res.into_parts();
    let bytes = match Limited::new(body, MAX_REVIEW_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Err(respond::bad_gateway(format!(
                "kubewitness: upstream review answer: {e}"
            )));
        }
    };
    if !status.is_success() {
        return Err(Response::from_parts(head, respond::full(bytes)));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| respond::bad_gateway(format!("kubewitness: upstream review answer: {e}")))
}

#[cfg(test)]
#[test]
fn a_named_create_of_pods_means_the_subresource() {
    let mut v = json!({"spec": {"resourceAttributes": {"verb": "create", "resource": "pods", "name": "exec", "namespace": "shop"}}});
    subresource_as_name(&mut v);
    assert_eq!(
        v["spec"]["resourceAttributes"],
        json!({"verb": "create", "resource": "pods", "subresource": "exec", "namespace": "shop"})
    );
    let mut get = json!({"spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "name": "exec"}}});
    let before = get.clone();
    subresource_as_name(&mut get);
    assert_eq!(get, before);
    let mut non = json!({"spec": {"nonResourceAttributes": {"verb": "get", "path": "/api"}}});
    subresource_as_name(&mut non);
    assert!(non["spec"].get("resourceAttributes").is_none());
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AccessReview {
    spec: AccessSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AccessSpec {
    resource_attributes: Option<Attributes>,
    non_resource_attributes: Option<Attributes>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Attributes {
    namespace: String,
    verb: String,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    name: String,
    path: String,
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The request a `SelfSubjectAccessReview` asks about.
fn asked(spec: &AccessSpec) -> Result<RequestInfo, String> {
    if let Some(a) = &spec.resource_attributes {
        return Ok(RequestInfo {
            verb: a.verb.clone(),
            target: Target::Resource(Resource {
                group: a.group.clone(),
                version: if a.version.is_empty() {
                    "v1".into()
                } else {
                    a.version.clone()
                },
                namespace: some(&a.namespace),
                resource: a.resource.clone(),
                name: some(&a.name),
                subresource: some(&a.subresource),
            }),
        });
    }
    match &spec.non_resource_attributes {
        Some(a) => Ok(RequestInfo {
            verb: a.verb.clone(),
            target: Target::NonResource(a.path.clone()),
        }),
        None => Err(
            "a SelfSubjectAccessReview needs resourceAttributes or nonResourceAttributes".into(),
        ),
    }
}

/// The policy's decision on `info`. exec and attach are decided for each command some rule
/// allows (a review names no command); the first allowing decision wins.
pub(super) async fn decide(proxy: &Proxy, identity: &Identity, info: &RequestInfo) -> Decision {
    let client = proxy.upstream.client();
    let sub = info
        .resource()
        .filter(|r| r.is_core("pods", Some("exec")) || r.is_core("pods", Some("attach")))
        .and_then(|r| r.subresource.clone());
    let Some(sub) = sub else {
        return proxy.access.review(client, identity, info, None).await;
    };
    let r = info.resource().expect("checked above");
    let argvs = if sub == "exec" {
        proxy.policy().exec_examples()
    } else {
        vec![Vec::new()]
    };
    let mut first: Option<Decision> = None;
    for command in argvs {
        let stream = StreamRequest {
            subresource: sub.clone(),
            namespace: r.namespace.clone().unwrap_or_default(),
            pod: r.name.clone().unwrap_or_default(),
            container: None,
            command,
            options: StreamOptions {
                stdout: true,
                ..StreamOptions::default()
            },
        };
        let d = proxy
            .access
            .review(client, identity, info, Some(&stream))
            .await;
        if d.allowed {
            return d;
        }
        first.get_or_insert(d);
    }
    match first {
        Some(d) => d,
        None => proxy.access.review(client, identity, info, None).await,
    }
}

/// Combines the policy's decision with the API server's `status`.
async fn access(
    proxy: &Proxy,
    identity: &Identity,
    review: Value,
    mut upstream: Value,
) -> Result<Value, String> {
    let review: AccessReview = serde_json::from_value(review)
        .map_err(|e| format!("invalid SelfSubjectAccessReview: {e}"))?;
    let info = asked(&review.spec)?;
    let d = decide(proxy, identity, &info).await;
    let up = &upstream["status"];
    let up_allowed = up["allowed"].as_bool() == Some(true);
    let up_denied = up["denied"].as_bool() == Some(true);
    let up_reason = up["reason"].as_str().unwrap_or_default().to_string();
    let rule = d.rule.as_deref().unwrap_or("none");
    let (allowed, reason) = match (d.allowed, up_allowed) {
        (true, true) => (
            true,
            format!("kubewitness rule {rule} allows it, and so does the API server"),
        ),
        (true, false) => (
            false,
            format!("kubewitness rule {rule} allows it, but the API server does not: {up_reason}"),
        ),
        (false, _) => (false, format!("kubewitness (rule {rule}): {}", d.reason)),
    };
    upstream["status"] = json!({"allowed": allowed, "reason": reason});
    if !allowed && up_denied {
        upstream["status"]["denied"] = json!(true);
    }
    Ok(upstream)
}
