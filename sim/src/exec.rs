//! `pods/{exec,attach}`: validated like the API server, upgraded to SPDY/3.1 (v4, as a real
//! cluster answers) or WebSocket (v5, v4, v4.base64, channel.k8s.io, base64.channel.k8s.io),
//! and spliced to a local process ([`super::process`]).
//!
//! A pod's [`SimFault`] breaks its sessions on purpose (see [`super::fault`]).
//!
//! The 101 goes out from the handler; the session runs in a task the server owns, so
//! shutting the server down ends it (and kills the process).

use std::sync::Arc;

use http::{HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::fault::{self, Severable, SimFault};
use super::logs::container;
use super::process::{self, ProcessSpec};
use super::respond::{self, Body, bad_request};
use super::router::unauthorized;
use super::server::{State, same_secret};
use proxy_core::channel::{Protocol, StreamOptions, url_pairs};
use proxy_core::peer::Peer;
use proxy_core::websocket::{self, WsProtocol};

/// The WebSocket sub-protocols the simulated server accepts, in its preference order (the
/// client's order decides).
pub(crate) const WS_PROTOCOLS: [WsProtocol; 5] = [
    WsProtocol::V5,
    WsProtocol::V4,
    WsProtocol::V4Base64,
    WsProtocol::V1,
    WsProtocol::V1Base64,
];

/// The SPDY protocol versions the simulated server accepts, like a kubelet: no v5.
pub(crate) const SPDY_PROTOCOLS: [Protocol; 4] =
    [Protocol::V4, Protocol::V3, Protocol::V2, Protocol::V1];

/// What the session runs, validated.
#[derive(Debug)]
struct Session {
    argv: Vec<String>,
    opts: StreamOptions,
    hostname: String,
    fault: Option<SimFault>,
}

/// How the client asked to upgrade.
enum Upgrade {
    WebSocket(Result<websocket::handshake::ServerHandshake, websocket::handshake::HandshakeError>),
    Spdy,
    None,
}

fn upgrade_kind(headers: &HeaderMap) -> Upgrade {
    if websocket::handshake::is_upgrade(headers) {
        Upgrade::WebSocket(websocket::handshake::accept(headers, &WS_PROTOCOLS))
    } else if proxy_core::spdy::handshake::is_upgrade(headers) {
        Upgrade::Spdy
    } else {
        Upgrade::None
    }
}

/// Serves `POST|GET .../pods/{name}/{exec|attach}`.
pub(crate) async fn serve(
    state: &Arc<State>,
    mut req: Request<Incoming>,
    header_ok: bool,
    namespace: &str,
    name: &str,
    sub: &str,
) -> Response<Body> {
    let upgrade = upgrade_kind(req.headers());
    let token_ok = match &upgrade {
        Upgrade::WebSocket(Ok(hs)) => hs
            .bearer_token
            .as_ref()
            .is_some_and(|t| same_secret(t.as_bytes(), state.cfg.token.as_bytes())),
        _ => false,
    };
    if !(header_ok || token_ok) {
        return unauthorized();
    }
    if let Some(refused) = respond::unless_upgradeable(req.method()) {
        return refused;
    }
    let session = match validate(
        state,
        namespace,
        name,
        sub,
        req.uri().query().unwrap_or_default(),
    ) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (response, start): (Response<Body>, Start) = match upgrade {
        Upgrade::WebSocket(_) if !state.cfg.websocket => {
            return bad_request("kubewitness sim: WebSocket upgrades are disabled");
        }
        Upgrade::WebSocket(Err(e)) => {
            return respond::status(
                e.status_code(),
                reason(e.status_code()),
                format!("unable to upgrade connection: {e}"),
            );
        }
        Upgrade::WebSocket(Ok(hs)) => {
            let opts = session.opts;
            let protocol = hs.protocol;
            let resp = switching(hs.response_headers);
            (
                resp,
                Box::new(move |io| websocket::serve(io, protocol, opts)),
            )
        }
        Upgrade::Spdy if !state.cfg.spdy => {
            return bad_request("kubewitness sim: SPDY upgrades are disabled");
        }
        Upgrade::Spdy => match spdy_upgrade(req.headers(), session.opts) {
            Ok(pair) => pair,
            Err(resp) => return *resp,
        },
        Upgrade::None => return bad_request("Upgrade request required"),
    };
    let owner = state.clone();
    let task = tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "sim: upgrade failed");
                return;
            }
        };
        let io = TokioIo::new(upgraded);
        let budget = match session.fault {
            Some(SimFault::Silent) => return fault::silent(io).await,
            Some(SimFault::DropAfter { bytes }) => Some(bytes),
            Some(SimFault::Hang) | None => None,
        };
        let client = start(Severable::new(io, budget));
        let spec = ProcessSpec {
            argv: &session.argv,
            opts: session.opts,
            dir: owner.scratch.path(),
            hostname: &session.hostname,
        };
        let server = match session.fault {
            Some(SimFault::Hang) => fault::hung(),
            _ => process::spawn(&spec),
        };
        let end = proxy_core::pipeline::splice(client, server).await;
        tracing::info!(reason = ?end.reason, success = end.status.is_success(), "sim: session ended");
    });
    state.own(task.abort_handle());
    response
}

fn switching(headers: HeaderMap) -> Response<Body> {
    let mut resp = Response::new(respond::full(bytes::Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *resp.headers_mut() = headers;
    resp
}

type Start = Box<dyn FnOnce(Severable<TokioIo<hyper::upgrade::Upgraded>>) -> Peer + Send>;

fn spdy_upgrade(
    headers: &HeaderMap,
    opts: StreamOptions,
) -> Result<(Response<Body>, Start), Box<Response<Body>>> {
    let protocol =
        proxy_core::spdy::handshake::negotiate(headers, &SPDY_PROTOCOLS).map_err(|e| {
            let mut resp = respond::status(
                e.status(),
                reason(e.status()),
                format!("unable to upgrade connection: {e}"),
            );
            if e.is_no_common() {
                resp.headers_mut()
                    .extend(proxy_core::spdy::handshake::rejection_headers(
                        &SPDY_PROTOCOLS,
                    ));
            }
            Box::new(resp)
        })?;
    let resp = switching(proxy_core::spdy::handshake::response_headers(protocol));
    Ok((
        resp,
        Box::new(move |io| proxy_core::spdy::serve(io, opts, protocol)),
    ))
}

fn validate(
    state: &State,
    namespace: &str,
    name: &str,
    sub: &str,
    query: &str,
) -> Result<Session, Box<Response<Body>>> {
    let Some(pod) = state
        .cfg
        .pods
        .iter()
        .find(|p| p.namespace == namespace && p.name == name)
    else {
        return Err(Box::new(respond::not_found("pods", name)));
    };
    let wanted = url_pairs(query)
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    let debug = wanted
        .as_deref()
        .filter(|_| sub == "attach")
        .and_then(|w| super::ephemeral::command(state, namespace, name, w));
    let c = match debug {
        Some(_) => None,
        None => Some(container(pod, wanted.as_deref()).map_err(|m| Box::new(bad_request(m)))?),
    };
    let opts = StreamOptions::from_query(query);
    let argv = if sub == "exec" {
        let argv: Vec<String> = url_pairs(query)
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v)
            .collect();
        if argv.is_empty() {
            return Err(Box::new(bad_request("you must specify at least 1 command")));
        }
        argv
    } else {
        match (debug, c) {
            (Some(debug), _) => debug,
            (None, c) => c.map(|c| c.attach_command.clone()).unwrap_or_default(),
        }
    };
    if !(opts.stdin || opts.stdout || opts.stderr) {
        return Err(Box::new(bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        )));
    }
    Ok(Session {
        argv,
        opts,
        hostname: pod.name.clone(),
        fault: pod.fault,
    })
}

/// The `Status` reason for a refused upgrade's HTTP code.
fn reason(code: StatusCode) -> &'static str {
    match code {
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        _ => "BadRequest",
    }
}
