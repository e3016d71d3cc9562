//! The in-process clients of the soak: exec over WebSocket (kube-rs), exec over SPDY
//! (kube-client's connection upgraded by hand, then kubewitness's own SPDY client driver),
//! a followed log (kube-rs) and an exec the policy denies. Each returns `Err` with a
//! description when the session did not end as expected.

use bytes::BytesMut;
use futures_util::AsyncReadExt as _;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use kube_client::api::{Api, AttachParams, LogParams};
use proxy_core::channel::{Channel, Msg, Protocol, StreamOptions};
use proxy_core::status::Status;
use tokio::io::AsyncReadExt as _;

/// What a session of the mix must produce.
pub(crate) type Outcome = Result<(), String>;

/// `echo soak-N` over WebSocket: the line back and a success.
pub(crate) async fn exec_websocket(pods: &Api<Pod>, n: usize) -> Outcome {
    let word = format!("soak-{n}");
    let params = AttachParams::default().stderr(false);
    let mut attached = pods
        .exec("web-0", vec!["echo", word.as_str()], &params)
        .await
        .map_err(|e| format!("websocket exec: {e}"))?;
    let mut out = String::new();
    attached
        .stdout()
        .ok_or("no stdout")?
        .read_to_string(&mut out)
        .await
        .map_err(|e| format!("websocket stdout: {e}"))?;
    let status = attached
        .take_status()
        .ok_or("no status")?
        .await
        .ok_or("status missing")?;
    if out != format!("{word}\n") || status.status.as_deref() != Some("Success") {
        return Err(format!("websocket exec: {out:?}, {status:?}"));
    }
    Ok(())
}

/// `seq 1 N` over SPDY: exactly those lines and a success.
pub(crate) async fn exec_spdy(client: &kube_client::Client, n: usize) -> Outcome {
    let uri = format!(
        "/api/v1/namespaces/default/pods/web-0/exec?command=seq&command=1&command={n}&stdout=true"
    );
    let mut req = http::Request::post(uri)
        .body(kube_client::client::Body::empty())
        .map_err(|e| e.to_string())?;
    proxy_core::spdy::handshake::add_request_headers(req.headers_mut(), &[Protocol::V4]);
    let res = client
        .send(req)
        .await
        .map_err(|e| format!("spdy upgrade request: {e}"))?;
    let protocol = proxy_core::spdy::handshake::verify_response(res.status(), res.headers())
        .map_err(|e| format!("spdy handshake: {e}"))?
        .unwrap_or(Protocol::V1);
    let io = hyper::upgrade::on(res)
        .await
        .map_err(|e| format!("spdy upgrade: {e}"))?;
    let opts = StreamOptions {
        stdin: false,
        stdout: true,
        stderr: false,
        tty: false,
    };
    let mut peer = proxy_core::spdy::connect(TokioIo::new(io), opts, protocol)
        .await
        .map_err(|e| format!("spdy streams: {e}"))?;
    // Kept until the end: dropping it would cancel the session.
    let _outgoing = peer.outgoing;
    let (mut out, mut status) = (BytesMut::new(), None);
    while let Some(msg) = peer.incoming.recv().await {
        match msg {
            Msg::Data(f) if f.channel == Channel::Stdout => out.extend_from_slice(&f.bytes),
            Msg::Data(f) if f.channel == Channel::Error => {
                status = serde_json::from_slice::<Status>(&f.bytes).ok();
            }
            _ => {}
        }
    }
    let want: String = (1..=n).map(|i| format!("{i}\n")).collect();
    match status {
        Some(s) if s.is_success() && out == want.as_bytes() => Ok(()),
        other => Err(format!("spdy exec: {} bytes, {other:?}", out.len())),
    }
}

/// `logs -f`: the whole log, followed to its end.
pub(crate) async fn follow_log(pods: &Api<Pod>, want: &str) -> Outcome {
    let params = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let mut stream = pods
        .log_stream("web-0", &params)
        .await
        .map_err(|e| format!("log stream: {e}"))?;
    let mut got = String::new();
    stream
        .read_to_string(&mut got)
        .await
        .map_err(|e| format!("log body: {e}"))?;
    if got != want {
        return Err(format!("log: {} bytes, want {}", got.len(), want.len()));
    }
    Ok(())
}

/// `rm -rf /`: refused by the policy with a 403 that says so.
pub(crate) async fn denied(pods: &Api<Pod>) -> Outcome {
    let params = AttachParams::default().stderr(false);
    match pods.exec("web-0", vec!["rm", "-rf", "/"], &params).await {
        Err(e) if e.to_string().contains("no rule allows this command") => Ok(()),
        Err(e) => Err(format!("denial: unexpected error {e}")),
        Ok(_) => Err("denial: the exec was allowed".into()),
    }
}
