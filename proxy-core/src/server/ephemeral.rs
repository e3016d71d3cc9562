//! `PATCH pods/NAME/ephemeralcontainers` (`kubectl debug`): the policy allowed the action;
//! the allowing rule's [`crate::policy::EphemeralRule`] now checks the patch body, and only
//! a patch it accepts is forwarded as the caller. The attach that follows is an ordinary,
//! recorded attach session.

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tracing::info;

use super::Proxy;
use super::respond::{self, ResponseBody};
use super::route::MAX_REQUEST_BODY;
use crate::access::Grant;
use crate::auth::Identity;

/// Checks and forwards an allowed ephemeral-containers patch.
pub(super) async fn handle(
    req: Request<Incoming>,
    identity: &Identity,
    proxy: &Proxy,
    grant: &Grant,
) -> Response<ResponseBody> {
    let Some(rule) = grant.limits.ephemeral.as_ref() else {
        return respond::forbidden("kubewitness: ephemeral containers denied: no image is listed");
    };
    let (parts, body) = req.into_parts();
    let body: Bytes = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return respond::bad_request(format!("kubewitness: request body: {e}")),
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let path = parts.uri.path();
    match rule.check(content_type, &body) {
        Ok(names) => info!(user = %identity.user, %path, ?names, "ephemeral containers allowed"),
        Err(why) => {
            info!(user = %identity.user, %path, %why, "ephemeral containers denied");
            proxy.access.refused(identity, &parts.method, path, &why);
            return respond::forbidden(format!(
                "kubewitness: ephemeral containers in {path} denied: {why}"
            ));
        }
    }
    match proxy.upstream.forward(&parts, body, identity).await {
        Ok(res) => res.map(|b| b.map_err(|e| Box::new(e) as super::BoxError).boxed_unsync()),
        Err(e) => respond::bad_gateway(format!("kubewitness: {e}")),
    }
}
