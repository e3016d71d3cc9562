//! Every request: authenticate, classify, decide, dispatch.
//!
//! The order matters: nothing reaches upstream before the caller is authenticated and the
//! request is classified and allowed by the policy ([`crate::access`]). exec and attach
//! parameters are parsed here, before the decision, because the argv and stream flags are
//! part of it. A denial is a 403 `Status` whose message kubectl prints; a rate or stream
//! limit is a 429 with `Retry-After`. exec and attach go to [`super::exec`], logs to
//! [`super::logs`] (with the clamped query), port-forward (any method) to
//! [`super::portforward`], the rest is forwarded with its body streamed back. Paths under
//! `/prometheus/` are the metrics gateway ([`crate::prometheus`]), after authentication and
//! before the Kubernetes classifier, and so is kubewitness's own access-request API under
//! `/kubewitness/` ([`super::access_api`]).
//!
//! A caller that claims the breakglass group is refused outright: only kubewitness adds it,
//! to requests an approved grant allows (an elevation's rule, or an approved write, which a
//! denied `kubectl` write may match: its body is read and, when it is exactly an approved
//! action, the broker executes it once).
//!
//! Every early answer (401, 400, 403, 429) first drains a small request body
//! ([`super::body::drain`]); a GET or HEAD with a body is refused.

use std::convert::Infallible;
use std::sync::Arc;

use crate::server::RequestBody;
use http::{Request, Response};
use http_body_util::BodyExt;
use tracing::{debug, info, warn};

use super::limits::InFlight;
use super::respond::{self};
use super::{
    Conn, Proxy, access_api, body, ephemeral, exec, logs, portforward, readredact, selfreview,
};
use crate::access::{Grant, Verdict, retry_after_secs};
use crate::auth::{AuthError, Identity};
use crate::bodies::ResponseBody;
use crate::policy::limiter::{Limited, StreamPermit};
use crate::policy::{Action, WriteAction};
use crate::request::{Dispatch, RequestInfo, StreamRequest};
use crate::upstream::Origin;

/// An allowed request, ready to dispatch.
struct Allowed {
    identity: Identity,
    info: RequestInfo,
    stream: Option<StreamRequest>,
    grant: Grant,
}

/// What an authenticated, classified request goes on to.
enum Admitted {
    /// An ordinary request the policy allowed.
    Allowed(Allowed),
    /// `kubectl auth whoami` / `can-i`: answered by kubewitness itself.
    SelfReview {
        identity: Identity,
        info: RequestInfo,
        review: selfreview::Review,
    },
    /// The MCP gateway at `/mcp`: each tool call is decided like any request.
    #[cfg(feature = "mcp")]
    Mcp(Identity),
    /// The metrics gateway under `/prometheus/`.
    Prometheus(Identity),
    /// kubewitness's access-request API under `/kubewitness/`.
    AccessApi(Identity),
    /// A write the policy denied: an approved access request may match it exactly.
    DeniedWrite {
        identity: Identity,
        info: RequestInfo,
        message: String,
    },
}

pub(super) async fn handle(
    req: Request<RequestBody>,
    proxy: Arc<Proxy>,
    conn: Conn,
    in_flight: InFlight,
) -> Result<Response<ResponseBody>, Infallible> {
    let limit = conn.limits.request_timeout;
    let res = match tokio::time::timeout(limit, answer(req, proxy, conn)).await {
        Ok(res) => res,
        Err(_) => respond::status(
            http::StatusCode::GATEWAY_TIMEOUT,
            "Timeout",
            format!(
                "kubewitness: the request took longer than {}s",
                limit.as_secs()
            ),
        ),
    };
    // The connection counts as busy until the response body is done.
    Ok(res.map(|b| respond::holding(b, in_flight)))
}

/// The answer to one request (its head within the request timeout).
async fn answer(
    req: Request<RequestBody>,
    proxy: Arc<Proxy>,
    conn: Conn,
) -> Response<ResponseBody> {
    match admit(&req, &proxy, &conn).await {
        Ok(Admitted::Allowed(allowed)) => dispatch(req, allowed, proxy, conn).await,
        Ok(Admitted::SelfReview {
            identity,
            info,
            review,
        }) => selfreview::handle(review, req, &info, &identity, &proxy, &conn).await,
        Ok(Admitted::Prometheus(identity)) => prometheus(req, identity, proxy, conn.remote).await,
        Ok(Admitted::AccessApi(identity)) => access_api::serve(req, identity, &proxy, &conn).await,
        Ok(Admitted::DeniedWrite {
            identity,
            info,
            message,
        }) => denied_write(req, &identity, &info, message, &proxy, &conn).await,
        #[cfg(feature = "mcp")]
        Ok(Admitted::Mcp(identity)) => {
            super::mcp::http::serve(req, proxy, identity, conn.remote).await
        }
        Err(res) => {
            // Read (a little of) what the client is still sending, so it sees the answer.
            body::drain(req.into_body()).await;
            res
        }
    }
}

/// Authenticates, classifies and decides; an early answer when the request goes no further.
async fn admit(
    req: &Request<RequestBody>,
    proxy: &Proxy,
    conn: &Conn,
) -> Result<Admitted, Response<ResponseBody>> {
    if let Some(refused) = super::head::check(req, &conn.limits) {
        return Err(refused);
    }
    let authenticated = proxy
        .auth
        .authenticate(req.headers(), conn.cert.as_ref(), conn.remote.ip())
        .await;
    if let Err(err) = &authenticated {
        crate::metrics::metrics().auth_failure(failure_reason(err));
    }
    let identity = match authenticated {
        Ok(id) => id,
        Err(AuthError::Throttled(limited)) => {
            debug!(method = %req.method(), "unauthenticated and over the address budget");
            return Err(too_many(&limited));
        }
        Err(err) => {
            if let AuthError::Unavailable(why) = &err {
                warn!(%why, "token review failed");
            }
            debug!(method = %req.method(), path = req.uri().path(), "unauthenticated");
            return Err(respond::unauthorized(&err.to_string()));
        }
    };
    let breakglass = proxy.breakglass_group();
    if crate::auth::claims_group(&identity, breakglass) {
        let why = format!("the caller claims the reserved group {breakglass}");
        info!(user = %identity.user, %why, "refused");
        proxy
            .access
            .refused(&identity, req.method(), req.uri().path(), &why);
        return Err(respond::forbidden(format!(
            "kubewitness: forbidden: the group {breakglass} is added by kubewitness alone, \
             to requests an approved access grant allows; no caller may claim it"
        )));
    }
    if access_api::is_api_path(req.uri().path()) {
        return Ok(Admitted::AccessApi(identity));
    }
    // The MCP gateway: after authentication, every tool call decided like any request.
    #[cfg(feature = "mcp")]
    if super::mcp::http::is_mcp(req.uri().path()) {
        return Ok(Admitted::Mcp(identity));
    }
    if crate::prometheus::http::is_gateway_path(req.uri().path()) {
        return Ok(Admitted::Prometheus(identity));
    }
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let refuse = |why: String| {
        info!(user = %identity.user, method = %req.method(), %path, %why, "refused");
        proxy.access.refused(&identity, req.method(), path, &why);
        respond::bad_request(format!("kubewitness: request refused: {why}"))
    };
    let info =
        RequestInfo::classify(req.method(), path, query).map_err(|w| refuse(w.to_string()))?;
    if let Some(res) = body::refuse_unexpected(req.method(), req.body()) {
        proxy.access.refused(
            &identity,
            req.method(),
            path,
            "a body on a GET or HEAD request",
        );
        return Err(res);
    }
    // `kubectl auth whoami` and `can-i`: answered here, with the policy's own decisions.
    if let Some(review) = selfreview::Review::of(&info) {
        info!(user = %identity.user, ?review, "self review");
        return Ok(Admitted::SelfReview {
            identity,
            info,
            review,
        });
    }
    let stream = match info.dispatch().is_stream() {
        true => Some(StreamRequest::parse(&info, query).map_err(|w| refuse(w.to_string()))?),
        false => None,
    };
    let client = proxy.upstream.client().clone();
    let verdict = proxy
        .access
        .decide(&client, &identity, &info, stream.as_ref(), query)
        .await;
    match verdict {
        Verdict::Allow(grant) => {
            debug!(user = %identity.user, verb = %info.verb, %path, rule = ?grant.rule, "allowed");
            Ok(Admitted::Allowed(Allowed {
                identity,
                info,
                stream,
                grant,
            }))
        }
        Verdict::Deny(message) => {
            info!(user = %identity.user, verb = %info.verb, %path, "denied");
            let action =
                crate::policy::Request::new(&identity.user, &identity.groups, &info, None).action;
            if action == Action::Write && proxy.grants.is_some() {
                return Ok(Admitted::DeniedWrite {
                    identity,
                    info,
                    message,
                });
            }
            Err(respond::forbidden(message))
        }
        Verdict::Invalid(why) => {
            info!(user = %identity.user, verb = %info.verb, %path, %why, "invalid");
            Err(respond::bad_request(format!("kubewitness: {why}")))
        }
        Verdict::Limited(limited) => {
            info!(user = %identity.user, verb = %info.verb, %path, reason = %limited, "rate limited");
            Err(too_many(&limited))
        }
    }
}

/// The `reason` label of an authentication failure.
fn failure_reason(err: &AuthError) -> &'static str {
    match err {
        AuthError::Missing => "missing",
        AuthError::Invalid => "invalid",
        AuthError::Unavailable(_) => "unavailable",
        AuthError::Throttled(_) => "throttled",
    }
}

/// 429 with `Retry-After`.
fn too_many(limited: &Limited) -> Response<ResponseBody> {
    let mut res = respond::status(
        http::StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        format!("kubewitness: {limited}"),
    );
    res.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from(retry_after_secs(limited.retry_after)),
    );
    res
}

async fn dispatch(
    req: Request<RequestBody>,
    allowed: Allowed,
    proxy: Arc<Proxy>,
    conn: Conn,
) -> Response<ResponseBody> {
    let Allowed {
        mut identity,
        info,
        stream,
        grant,
    } = allowed;
    // Allowed by an approved elevation: upstream sees under which grant, in its own group.
    if let Some(id) = grant.elevation() {
        info!(user = %identity.user, request = id, "allowed by an access grant");
        identity.groups.push(proxy.breakglass_group().to_string());
    }
    match (stream, info.dispatch()) {
        (Some(stream), _) => exec::handle(req, stream, identity, proxy, conn, grant).await,
        (None, Dispatch::Log) => logs::handle(req, &info, identity, proxy, conn, grant).await,
        // Every method: nothing about port-forward is ever relayed unrecorded.
        (None, Dispatch::PortForward) => {
            portforward::handle(req, &info, identity, proxy, conn, grant).await
        }
        (None, Dispatch::EphemeralContainers) => {
            ephemeral::handle(req, &identity, &proxy, &conn, &grant).await
        }
        _ => match readredact::redactor(&proxy, &info, &grant) {
            Some(redactor) => {
                readredact::forward(req, &identity, &proxy, &conn, redactor, grant.permit).await
            }
            None => forward(req, &identity, &proxy, &conn, grant.permit).await,
        },
    }
}

/// Forwards an ordinary request and streams the response back; a watch holds its stream
/// `permit` until the response body is done.
async fn forward(
    req: Request<RequestBody>,
    identity: &Identity,
    proxy: &Proxy,
    conn: &Conn,
    permit: Option<StreamPermit>,
) -> Response<ResponseBody> {
    let (parts, incoming) = req.into_parts();
    let body = match body::read(incoming, &conn.limits).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let origin = Origin::new(conn.remote.ip());
    match proxy
        .upstream
        .forward(&parts, body, identity, &origin)
        .await
    {
        Ok(res) => res.map(|b| {
            let body = b.map_err(|e| Box::new(e) as super::BoxError).boxed_unsync();
            respond::holding(body, permit)
        }),
        Err(e) => respond::upstream_failed(&e),
    }
}

/// The Prometheus gateway (`/prometheus/…`): its own checks, audit and recording.
async fn prometheus(
    req: Request<RequestBody>,
    identity: Identity,
    proxy: Arc<Proxy>,
    remote: std::net::SocketAddr,
) -> Response<ResponseBody> {
    let ctx = crate::prometheus::http::Context {
        gateway: proxy.prometheus.as_ref(),
        policy: proxy.policy(),
        recorder: proxy.recorder(),
        redactor: proxy.redactor(),
        audit: proxy.access.audit(),
        remote,
    };
    crate::prometheus::http::serve(req, &identity, ctx)
        .await
        .map(respond::full)
}

/// A write the policy denied: when it is exactly an approved, unused write of the caller,
/// the broker executes that (once, as approved) and its answer is the response; otherwise
/// the denial, naming the write grants that could allow it.
async fn denied_write(
    req: Request<RequestBody>,
    identity: &Identity,
    info: &RequestInfo,
    message: String,
    proxy: &Proxy,
    conn: &Conn,
) -> Response<ResponseBody> {
    let Some(grants) = proxy.grants() else {
        body::drain(req.into_body()).await;
        return respond::forbidden(message);
    };
    let (parts, incoming) = req.into_parts();
    let mut limits = conn.limits;
    limits.max_body_bytes = limits.max_body_bytes.min(access_api::MAX_API_BODY);
    let Ok(bytes) = body::read(incoming, &limits).await else {
        return respond::forbidden(message);
    };
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let query = parts.uri.query().unwrap_or("");
    let Some(action) = WriteAction::from_request(&parts.method, info, query, content_type, &bytes)
    else {
        return respond::forbidden(message);
    };
    let origin = Origin::new(conn.remote.ip());
    let via = crate::grants::Via {
        upstream: &proxy.upstream,
        origin: &origin,
    };
    match grants.execute_matching(via, identity, &action).await {
        Some(Ok(done)) => {
            info!(user = %identity.user, request = %done.id, "approved write executed");
            access_api::executed(done.code, done.content_type.as_deref(), done.body)
        }
        Some(Err(err)) => access_api::grant_error(&err),
        None => {
            let policy = proxy.policy();
            let writes = policy.writes_allowing(&identity.user, &identity.groups, &action);
            let hint = crate::access::write_hint(&writes, &action);
            respond::forbidden(format!("{message}{hint}"))
        }
    }
}
