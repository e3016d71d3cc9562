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
use super::writes::{self, MAX_WRITE_BODY};

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
    let header_ok = bearer(&req)
        .is_some_and(|t| same_secret(t, state.cfg.token.as_bytes()) || state.minted.accepts(t));
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let upgrade = matches!(
        segments[..],
        [
            "api",
            "v1",
            "namespaces",
            _,
            "pods",
            _,
            "exec" | "attach" | "portforward"
        ]
    );
    let (parts, incoming) = req.into_parts();
    let mut recorded = RecordedRequest {
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        headers: parts.headers.clone(),
        body: bytes::Bytes::new(),
    };
    let carries_body =
        !upgrade && matches!(parts.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
    let body = if carries_body {
        match Limited::new(incoming, MAX_WRITE_BODY).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                state.record(recorded);
                return if header_ok {
                    too_large(MAX_WRITE_BODY)
                } else {
                    unauthorized()
                };
            }
        }
    } else {
        let req = Request::from_parts(parts, incoming);
        state.record(recorded);
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
        return dispatch(
            &state,
            req.method(),
            req.headers(),
            req.uri().query(),
            &[],
            &segments,
        );
    };
    recorded.body = body.clone();
    state.record(recorded);
    if !header_ok {
        return unauthorized();
    }
    if let Some(target) = with_body(&parts.method, &segments) {
        if body.len() > MAX_TOKEN_REVIEW_BODY {
            return too_large(MAX_TOKEN_REVIEW_BODY);
        }
        return match target {
            WithBody::TokenReview => rest::token_review(&state, &body),
            WithBody::Review(kind) => super::review::serve(kind, &body),
            WithBody::Ephemeral(ns, name) => super::ephemeral::patch(&state, ns, name, &body),
            WithBody::TokenRequest(ns, name) => state.minted.serve(ns, name, &body),
        };
    }
    dispatch(
        &state,
        &parts.method,
        &parts.headers,
        parts.uri.query(),
        &body,
        &segments,
    )
}

/// Routes an authenticated request that is not a review, exec, attach or port-forward.
fn dispatch(
    state: &Arc<State>,
    method: &Method,
    headers: &http::HeaderMap,
    query: Option<&str>,
    body: &[u8],
    segments: &[&str],
) -> Response<Body> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let call = Call {
        method,
        query: query.unwrap_or_default(),
        accept: text(header::ACCEPT),
        content_type: text(header::CONTENT_TYPE),
        body,
    };
    route(state, &call, segments)
}

/// The requests whose body the simulator reads.
enum WithBody<'a> {
    TokenReview,
    /// `selfsubjectaccessreviews` or `selfsubjectrulesreviews`.
    Review(&'a str),
    /// A pod's `ephemeralcontainers` patch: namespace and pod.
    Ephemeral(&'a str, &'a str),
    /// A service account's TokenRequest: namespace and service account.
    TokenRequest(&'a str, &'a str),
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
        (
            "POST",
            [
                "api",
                "v1",
                "namespaces",
                ns,
                "serviceaccounts",
                name,
                "token",
            ],
        ) => Some(WithBody::TokenRequest(ns, name)),
        _ => None,
    }
}

/// `413 RequestEntityTooLarge` for a body over `limit` bytes.
fn too_large(limit: usize) -> Response<Body> {
    respond::status(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        format!("request body larger than {limit} bytes"),
    )
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
        [_, name] if *call.method == Method::GET => rest::object(state, call, r, namespace, name),
        [_, name] => writes::object(state, call, r, namespace, name),
        [_, name, sub @ ("eviction" | "scale")] => {
            writes::subresource(state, call, r, namespace, name, sub)
        }
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
