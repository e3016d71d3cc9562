//! Streamable HTTP at `/mcp` on the main listener. The route hook calls [`serve`] after
//! kubewitness's own authentication (token file, client certificate, TokenReview); the
//! authenticated caller travels in the request's extensions to the tool handlers, so every
//! agent sharing the gateway is itself. Stateless: each POST is answered on its own, with
//! JSON, and no session state outlives a request.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::server::RequestBody;
use http::{Request, Response};
use http_body_util::BodyExt;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tower_service::Service;

use super::{Caller, Gateway};
use crate::auth::Identity;
use crate::server::{BoxError, Proxy, ResponseBody};

/// The largest MCP request body (tool arguments are small).
pub(crate) const MAX_MCP_BODY: usize = 256 * 1024;

/// Whether `path` is the MCP endpoint.
pub(crate) fn is_mcp(path: &str) -> bool {
    path == "/mcp"
}

/// Answers one MCP request from an authenticated `identity`.
pub(crate) async fn serve(
    mut req: Request<RequestBody>,
    proxy: Arc<Proxy>,
    identity: Identity,
    remote: SocketAddr,
) -> Response<ResponseBody> {
    req.extensions_mut().insert(Caller {
        identity,
        remote,
        transport: "http",
    });
    // The caller is authenticated by kubewitness, so the SDK's loopback Host check would only
    // refuse legitimate remote agents. A request with an `Origin` comes from a browser page,
    // which could ride on a client certificate the browser holds: every Origin is refused
    // (agents are not browsers).
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(MAX_MCP_BODY)
        .disable_allowed_hosts()
        .enforce_origin_validation();
    let gateway = Gateway { proxy, fixed: None };
    let mut service = StreamableHttpService::new(
        move || Ok(gateway.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let Ok(res) = service.call(req).await;
    res.map(|b| {
        b.map_err(|never| -> BoxError { match never {} })
            .boxed_unsync()
    })
}
