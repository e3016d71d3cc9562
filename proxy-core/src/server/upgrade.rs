//! Answering a stream request with its 101 and running the session on the upgraded
//! connection, for exec/attach and port-forward alike.

use std::future::Future;
use std::sync::Arc;

use crate::server::RequestBody;
use http::{HeaderMap, Request, Response, StatusCode};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tracing::{Instrument, Span, debug};

use super::respond::{self, ResponseBody};
use super::{Proxy, SessionGuard};
use crate::policy::limiter::StreamPermit;

/// Answers `req` with 101 and `headers`, then runs `session` on the upgraded connection in
/// its own task (inside `span`), holding a session guard and the grant's stream `permit`
/// until it ends. If the client's upgrade fails, `session` is dropped unrun, and with it
/// whatever upstream stream it owns (which cancels that stream).
pub(super) fn upgrade<F, Fut>(
    req: &mut Request<RequestBody>,
    proxy: &Arc<Proxy>,
    permit: Option<StreamPermit>,
    headers: HeaderMap,
    span: Span,
    session: F,
) -> Response<ResponseBody>
where
    F: FnOnce(TokioIo<Upgraded>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let on_upgrade = hyper::upgrade::on(req);
    let guard = SessionGuard::new(proxy);
    tokio::spawn(
        async move {
            let _guard = guard;
            let _permit = permit;
            match on_upgrade.await {
                Ok(io) => session(TokioIo::new(io)).await,
                Err(e) => debug!(error = %e, "client upgrade failed"),
            }
        }
        .instrument(span),
    );
    let mut res = Response::new(respond::empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    res.headers_mut().extend(headers);
    res
}
