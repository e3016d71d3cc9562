//! Request dispatch: record, authenticate, then route by path like the API server
//! (`/version`, discovery, `/api/v1/...`, `/apis/{group}/v1/...`, pod subresources).

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::discovery;
use super::respond::{self, Body};
use super::rest::{self, Call, MAX_TOKEN_REVIEW_BODY};
use super::server::{RecordedRequest, State, same_secret};

/// The bearer token of `Authorization: Bearer <token>`, if any.
fn bearer(req: &Request<Incoming>) -> Option<&[u8]> {
    let value = req.headers().get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at(value.iter().position(|b| *b == b' ')?);
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| token.trim_ascii())
}

/// Handles one request.
pub(crate) async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    state.record(RecordedRequest {
        method: req.method().clone(),
        uri: req.uri().clone(),
        headers: req.headers().clone(),
    });
    let header_ok = bearer(&req).is_some_and(|t| same_secret(t, state.cfg.token.as_bytes()));
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if let [
        "api",
        "v1",
        "namespaces",
        ns,
        "pods",
        name,
        sub @ ("exec" | "attach"),
    ] = segments[..]
    {
        return super::exec::serve(&state, req, header_ok, ns, name, sub).await;
    }
    if let ["api", "v1", "namespaces", ns, "pods", name, "portforward"] = segments[..] {
        return super::portforward::serve(&state, req, header_ok, ns, name).await;
    }
    if !header_ok {
        return unauthorized();
    }
    if let Some(target) = with_body(req.method(), &segments) {
        return match review_body(req).await {
            Ok(body) => match target {
                WithBody::TokenReview => rest::token_review(&state, &body),
                WithBody::Review(kind) => super::review::serve(kind, &body),
                WithBody::Ephemeral(ns, name) => super::ephemeral::patch(&state, ns, name, &body),
            },
            Err(res) => res,
        };
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let call = Call {
        method: req.method(),
        query: req.uri().query().unwrap_or_default(),
        accept,
    };
    route(&state, &call, &segments)
}

/// The requests whose body the simulator reads.
enum WithBody<'a> {
    TokenReview,
    /// `selfsubjectaccessreviews` or `selfsubjectrulesreviews`.
    Review(&'a str),
    /// A pod's `ephemeralcontainers` patch: namespace and pod.
    Ephemeral(&'a str, &'a str),
}

fn with_body<'a>(method: &Method, segments: &[&'a str]) -> Option<WithBody<'a>> {
    match (method.as_str(), segments) {
        ("POST", ["apis", "authentication.k8s.io", "v1", "tokenreviews"]) => {
            Some(WithBody::TokenReview)
        }
        (
            "POST",
            [
                "apis",
                "authorization.k8s.io",
                "v1",
                kind @ ("selfsubjectaccessreviews" | "selfsubjectrulesreviews"),
            ],
        ) => Some(WithBody::Review(kind)),
        (
            "PATCH",
            [
                "api",
                "v1",
                "namespaces",
                ns,
                "pods",
                name,
                "ephemeralcontainers",
            ],
        ) => Some(WithBody::Ephemeral(ns, name)),
        _ => None,
    }
}

/// A review's body, at most [`MAX_TOKEN_REVIEW_BODY`] bytes.
async fn review_body(req: Request<Incoming>) -> Result<bytes::Bytes, Response<Body>> {
    match Limited::new(req.into_body(), MAX_TOKEN_REVIEW_BODY)
        .collect()
        .await
    {
        Ok(body) => Ok(body.to_bytes()),
        Err(_) => Err(respond::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("request body larger than {MAX_TOKEN_REVIEW_BODY} bytes"),
        )),
    }
}

/// `401 Unauthorized`, as the API server words it.
pub(crate) fn unauthorized() -> Response<Body> {
    respond::status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
}

fn route(state: &Arc<State>, call: &Call<'_>, segments: &[&str]) -> Response<Body> {
    let discovery_get = *call.method == Method::GET;
    match segments {
        ["version"] if discovery_get => respond::json(StatusCode::OK, &discovery::version()),
        ["healthz" | "livez" | "readyz"] if discovery_get => respond::with_type(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            respond::full("ok"),
        ),
        ["api"] if discovery_get => {
            respond::json(StatusCode::OK, &discovery::core_versions(&state.address))
        }
        ["apis"] if discovery_get => respond::json(StatusCode::OK, &discovery::group_list()),
        ["api", "v1", rest @ ..] => group_version(state, call, "", "v1", rest),
        ["apis", group, version, rest @ ..] => group_version(state, call, group, version, rest),
        _ => not_found_path(),
    }
}

fn not_found_path() -> Response<Body> {
    respond::status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn group_version(
    state: &Arc<State>,
    call: &Call<'_>,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Response<Body> {
    if rest.is_empty() {
        return match discovery::resource_list(group, version) {
            Some(list) if *call.method == Method::GET => respond::json(StatusCode::OK, &list),
            _ => not_found_path(),
        };
    }
    if version != "v1" {
        return not_found_path();
    }
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(*ns), tail),
        _ => (None, rest),
    };
    let Some(r) = discovery::resource(group, rest[0]) else {
        return not_found_path();
    };
    if namespace.is_some() && !r.namespaced {
        return not_found_path();
    }
    match rest {
        [_] => rest::collection(state, call, r, namespace),
        [_, name] => rest::object(state, call, r, namespace, name),
        [_, name, "log"] if r.name == "pods" => match (namespace, *call.method == Method::GET) {
            (Some(ns), true) => match state
                .cfg
                .pods
                .iter()
                .find(|p| p.namespace == ns && p.name == *name)
            {
                Some(pod) => super::logs::serve(state, pod, call.query),
                None => respond::not_found("pods", name),
            },
            _ => not_found_path(),
        },
        _ => not_found_path(),
    }
}
