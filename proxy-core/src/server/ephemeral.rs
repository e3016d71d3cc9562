//! `PATCH pods/NAME/ephemeralcontainers` (`kubectl debug`): the policy allowed the action;
//! the allowing rule's [`crate::policy::EphemeralRule`] now checks the patch body, and only
//! a patch it accepts is forwarded as the caller. The attach that follows is an ordinary,
//! recorded attach session.

use crate::server::RequestBody;
use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::BodyExt;
use tracing::info;

use super::respond::{self, ResponseBody};
use super::{Conn, Proxy};
use crate::access::Grant;
use crate::auth::Identity;
use crate::upstream::Origin;

/// Checks and forwards an allowed ephemeral-containers patch.
pub(super) async fn handle(
    req: Request<RequestBody>,
    identity: &Identity,
    proxy: &Proxy,
    conn: &Conn,
    grant: &Grant,
) -> Response<ResponseBody> {
    let Some(rule) = grant.limits.ephemeral.as_ref() else {
        return respond::forbidden("kubewitness: ephemeral containers denied: no image is listed");
    };
    let (parts, body) = req.into_parts();
    let body: Bytes = match super::body::read(body, &conn.limits).await {
        Ok(b) => b,
        Err(res) => return res,
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
    let origin = Origin::new(conn.remote.ip());
    match proxy
        .upstream
        .forward(&parts, body, identity, &origin)
        .await
    {
        Ok(res) => res.map(|b| b.map_err(|e| Box::new(e) as super::BoxError).boxed_unsync()),
        Err(e) => respond::upstream_failed(&e),
    }
}
