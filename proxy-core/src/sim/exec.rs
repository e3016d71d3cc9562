//! `pods/{exec,attach}`: validation like the API server, then the upgrade.

use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;

use super::logs::container;
use super::respond::{self, Body, bad_request};
use super::router::unauthorized;
use super::server::State;
use crate::channel::{StreamOptions, url_pairs};

/// Validated parameters of one exec/attach request.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) argv: Vec<String>,
    pub(crate) opts: StreamOptions,
    pub(crate) hostname: String,
}

/// Serves `POST|GET .../pods/{name}/{exec|attach}`.
pub(crate) async fn serve(
    state: &Arc<State>,
    req: Request<Incoming>,
    header_ok: bool,
    namespace: &str,
    name: &str,
    sub: &str,
) -> Response<Body> {
    if !header_ok {
        return unauthorized();
    }
    if *req.method() != Method::GET && *req.method() != Method::POST {
        return respond::status(
            http::StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        );
    }
    let Some(pod) = state
        .cfg
        .pods
        .iter()
        .find(|p| p.namespace == namespace && p.name == name)
    else {
        return respond::not_found("pods", name);
    };
    let query = req.uri().query().unwrap_or_default();
    let wanted = url_pairs(query)
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    let c = match container(pod, wanted.as_deref()) {
        Ok(c) => c,
        Err(msg) => return bad_request(msg),
    };
    let opts = StreamOptions::from_query(query);
    let argv = if sub == "exec" {
        let argv: Vec<String> = url_pairs(query)
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v)
            .collect();
        if argv.is_empty() {
            return bad_request("you must specify at least 1 command");
        }
        argv
    } else {
        c.attach_command.clone()
    };
    if !(opts.stdin || opts.stdout || opts.stderr) {
        return bad_request("you must specify at least 1 of stdin, stdout, stderr");
    }
    let session = Session {
        argv,
        opts,
        hostname: pod.name.clone(),
    };
    let _ = session;
    bad_request("Upgrade request required")
}
