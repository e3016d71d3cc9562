//! `kubewitness access …`: access requests through kubewitness's own API
//! (`/kubewitness/v1/accessrequests`), reached with the caller's kubeconfig so client
//! certificates, tokens and exec plugins work as they do for kubectl.
//!
//! Errors are the API's Kubernetes `Status` messages, on stderr; the exit code is 2 when the
//! request was malformed (a bad flag, an unknown grant, a TTL too long: HTTP 400 and 422)
//! and 1 otherwise (denied, not found, conflict, unreachable). Nothing here prints a
//! credential: only the server's answer and the request's fields are shown.

use anyhow::{Context, anyhow};
use bytes::Bytes;
use http::{Method, StatusCode};
use kube_client::config::{KubeConfigOptions, Kubeconfig};
use proxy_core::grants::{AccessRequest, NewRequest};
use proxy_core::policy::{Workload, WriteVerb};
use serde_json::Value;

use crate::access_fmt;
use crate::cli::{AccessArgs, AccessCommand, AccessRequestArgs, Output};
use crate::{EXIT_FAILURE, EXIT_USAGE, Failure};

/// Where the API lives on kubewitness's listener.
pub(crate) const API_PATH: &str = "/kubewitness/v1/accessrequests";
/// The largest answer read from the API.
const MAX_ANSWER: usize = 16 << 20;

pub(crate) async fn run(args: AccessArgs) -> Result<(), Failure> {
    // Check the arguments before reaching for credentials.
    let call = plan(&args.command)?;
    let client = client(&args).await?;
    let (status, content_type, body) = send(&client, &call).await?;
    if !status.is_success() {
        return Err(api_error(status, &body));
    }
    let out = match &args.command {
        AccessCommand::Execute(_) => access_fmt::executed(content_type.as_deref(), &body),
        AccessCommand::List(a) if a.output == Output::Json => json_text(&body)?,
        AccessCommand::Get(g) if g.output == Output::Json => json_text(&body)?,
        AccessCommand::List(_) => {
            let list: ItemList = parse(&body)?;
            access_fmt::table(&list.items)
        }
        AccessCommand::Request(_) => access_fmt::created(&parse(&body)?),
        AccessCommand::Get(_) => access_fmt::details(&parse(&body)?),
        AccessCommand::Approve(_) | AccessCommand::Deny(_) | AccessCommand::Revoke(_) => {
            access_fmt::reviewed(&parse(&body)?)
        }
    };
    print!("{out}");
    Ok(())
}

/// `{"items": [...]}`.
#[derive(serde::Deserialize)]
struct ItemList {
    items: Vec<AccessRequest>,
}

/// One API call: method, path, JSON body.
#[derive(Debug, PartialEq)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) body: Option<Value>,
}

/// The API call a command makes; bad arguments are usage errors.
pub(crate) fn plan(cmd: &AccessCommand) -> Result<Call, Failure> {
    let post = |path: String, body: Option<Value>| Call {
        method: Method::POST,
        path,
        body,
    };
    let item = |id: &str, verb: &str| -> Result<String, Failure> {
        check_id(id)?;
        Ok(if verb.is_empty() {
            format!("{API_PATH}/{id}")
        } else {
            format!("{API_PATH}/{id}/{verb}")
        })
    };
    Ok(match cmd {
        AccessCommand::Request(a) => {
            let new = new_request(a)?;
            post(
                API_PATH.into(),
                Some(serde_json::to_value(new).expect("JSON")),
            )
        }
        AccessCommand::List(_) => Call {
            method: Method::GET,
            path: API_PATH.into(),
            body: None,
        },
        AccessCommand::Get(g) => Call {
            method: Method::GET,
            path: item(&g.id, "")?,
            body: None,
        },
        AccessCommand::Approve(r) => post(item(&r.id, "approve")?, Some(reason(&r.reason)?)),
        AccessCommand::Deny(r) => post(item(&r.id, "deny")?, Some(reason(&r.reason)?)),
        AccessCommand::Revoke(r) => {
            let body = match &r.reason {
                Some(why) => reason(why)?,
                None => serde_json::json!({}),
            };
            post(item(&r.id, "revoke")?, Some(body))
        }
        AccessCommand::Execute(e) => post(item(&e.id, "execute")?, None),
    })
}

/// The `NewRequest` for `access request`.
pub(crate) fn new_request(a: &AccessRequestArgs) -> Result<NewRequest, Failure> {
    if a.reason.trim().is_empty() {
        return Err(Failure::usage(anyhow!("--reason must say why")));
    }
    if let Some(ttl) = &a.ttl {
        humantime::parse_duration(ttl)
            .map_err(|_| Failure::usage(anyhow!("--ttl `{ttl}` is not a duration (15m, 1h)")))?;
    }
    let action: Option<WriteVerb> = a
        .action
        .as_deref()
        .map(|v| {
            enum_value(v).ok_or_else(|| {
                Failure::usage(anyhow!(
                    "--action `{v}`: one of evict, delete, restart, scale, cordon, uncordon"
                ))
            })
        })
        .transpose()?;
    let workload: Option<Workload> = a
        .kind
        .as_deref()
        .map(|k| {
            enum_value(k)
                .ok_or_else(|| Failure::usage(anyhow!("--kind `{k}`: deployment or statefulset")))
        })
        .transpose()?;
    let on_workload = matches!(action, Some(WriteVerb::Restart | WriteVerb::Scale));
    if workload.is_some() && action.is_some() && !on_workload {
        return Err(Failure::usage(anyhow!(
            "--kind only goes with restart and scale"
        )));
    }
    if a.replicas.is_some() && action.is_some() && action != Some(WriteVerb::Scale) {
        return Err(Failure::usage(anyhow!("--replicas only goes with scale")));
    }
    if action == Some(WriteVerb::Scale) && a.replicas.is_none() {
        return Err(Failure::usage(anyhow!("scale needs --replicas")));
    }
    Ok(NewRequest {
        grant: a.grant.clone(),
        reason: a.reason.clone(),
        ttl: a.ttl.clone(),
        action,
        namespace: a.namespace.clone(),
        name: a.name.clone(),
        // Spelt out, so the action is the same whichever way it is named.
        workload: workload.or(on_workload.then_some(Workload::Deployment)),
        replicas: a.replicas,
    })
}

/// A lower-case enum value (`evict`, `statefulset`) through its serde name.
fn enum_value<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(Value::String(s.to_ascii_lowercase())).ok()
}

fn reason(why: &str) -> Result<Value, Failure> {
    if why.trim().is_empty() {
        return Err(Failure::usage(anyhow!("--reason must say why")));
    }
    Ok(serde_json::json!({ "reason": why }))
}

/// Ids go into the path: letters and digits (a ULID), nothing else.
fn check_id(id: &str) -> Result<(), Failure> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Failure::usage(anyhow!(
            "`{id}` is not an access request id (letters and digits, as `access list` shows)"
        )));
    }
    Ok(())
}

async fn client(args: &AccessArgs) -> Result<kube_client::Client, Failure> {
    let kubeconfig = match &args.kubeconfig {
        Some(path) => Kubeconfig::read_from(path)
            .map_err(|e| Failure::usage(anyhow!("reading {}: {e}", path.display())))?,
        None => Kubeconfig::read().map_err(|e| {
            Failure::usage(anyhow!(
                "no kubeconfig (give --kubeconfig or set KUBECONFIG): {e}"
            ))
        })?,
    };
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = kube_client::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| Failure::usage(anyhow!("the kubeconfig: {e}")))?;
    kube_client::Client::try_from(config)
        .context("setting up the client")
        .map_err(Failure::from)
}

async fn send(
    client: &kube_client::Client,
    call: &Call,
) -> Result<(StatusCode, Option<String>, Bytes), Failure> {
    let mut req = http::Request::builder()
        .method(call.method.clone())
        .uri(&call.path)
        .header(http::header::ACCEPT, "application/json");
    let body = match &call.body {
        Some(v) => {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
            serde_json::to_vec(v).expect("JSON")
        }
        None => Vec::new(),
    };
    let req = req
        .body(kube_client::client::Body::from(body))
        .context("building the request")?;
    let res = client
        .send(req)
        .await
        .map_err(|e| anyhow!("kubewitness could not be reached: {e}"))?;
    let status = res.status();
    let content_type = res
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let body = res
        .into_body()
        .collect_bytes()
        .await
        .map_err(|e| anyhow!("reading kubewitness's answer: {e}"))?;
    if body.len() > MAX_ANSWER {
        return Err(anyhow!("kubewitness's answer is larger than {MAX_ANSWER} bytes").into());
    }
    Ok((status, content_type, body))
}

/// A failed call: the `Status` message when there is one.
pub(crate) fn api_error(status: StatusCode, body: &[u8]) -> Failure {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(300).collect();
            format!("HTTP {status}: {}", text.trim())
        });
    let code = if matches!(status.as_u16(), 400 | 422) {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    };
    Failure {
        code,
        error: anyhow!("{message}"),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body)
        .map_err(|e| anyhow!("kubewitness's answer is not what was expected: {e}").into())
}

/// The API's JSON, pretty-printed.
fn json_text(body: &[u8]) -> Result<String, Failure> {
    let v: Value = parse(body)?;
    Ok(format!("{:#}\n", v))
}
