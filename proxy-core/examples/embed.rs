//! Embedding kubewitness: a proxy built from parts, with an in-memory recording store and a
//! filter of our own that sees every byte the client is sent, served on a TLS listener.
//!
//! ```text
//! cargo run -p proxy-core --example embed -- KUBECONFIG TOKENS.csv CERT.pem KEY.pem
//! ```
//!
//! Point kubectl at the address it prints, with a token from `TOKENS.csv`
//! (kube-apiserver's `--token-auth-file` format).

use std::error::Error;
use std::path::Path;
use std::sync::{Arc, Mutex};

use proxy_core::auth::{Authenticator, TokenFile};
use proxy_core::config::{TlsConfig, UpstreamConfig};
use proxy_core::pipeline::{Direction, EndSession, Filter, Msg};
use proxy_core::record::{RecordStore, Recorder, RecordingConfig};
use proxy_core::server::SessionInfo;
use proxy_core::upstream::Upstream;
use proxy_core::{Proxy, Server};

/// Our filter: keeps a copy of what the client is sent, and passes every message on.
#[derive(Debug)]
struct Tap(Arc<Mutex<Vec<u8>>>);

impl Filter for Tap {
    fn on_msg(&mut self, msg: Msg, out: &mut Vec<Msg>) -> Result<(), EndSession> {
        if let Msg::Data(frame) = &msg {
            self.0.lock().expect("tap").extend_from_slice(&frame.bytes);
        }
        out.push(msg);
        Ok(())
    }
}

/// Builds the proxy and binds it to a local port; `seen` collects session output.
async fn embed(
    kubeconfig: &Path,
    tokens: &Path,
    tls: TlsConfig,
    seen: Arc<Mutex<Vec<u8>>>,
) -> Result<Server, Box<dyn Error + Send + Sync>> {
    let upstream = Upstream::from_config(&UpstreamConfig {
        kubeconfig: Some(kubeconfig.into()),
        context: None,
    })
    .await?;
    let memory = RecordingConfig {
        store: "memory://".into(),
        ..RecordingConfig::default()
    };
    let store = RecordStore::open(&memory.store, &[], None)?;
    let proxy = Proxy::builder()
        .upstream(upstream)
        .authenticator(Authenticator::new(Some(TokenFile::load(tokens)?), None))
        .recorder(Recorder::new(memory, store, None))
        .session_filters(move |_: &SessionInfo| {
            let tap: Box<dyn Filter> = Box::new(Tap(seen.clone()));
            vec![(Direction::ToClient, tap)]
        })
        .build()
        .await?;
    let tls = proxy_core::tls::server_config(&tls)?;
    Ok(Server::bind("127.0.0.1:0".parse()?, Some(tls), proxy).await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kubeconfig, tokens, cert, key] = args.as_slice() else {
        return Err("usage: embed KUBECONFIG TOKENS.csv CERT.pem KEY.pem".into());
    };
    let tls = TlsConfig {
        cert: cert.into(),
        key: key.into(),
        client_ca: None,
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = embed(kubeconfig.as_ref(), tokens.as_ref(), tls, seen).await?;
    println!("serving on https://{}", server.local_addr()?);
    server
        .serve(async { tokio::signal::ctrl_c().await.unwrap_or(()) })
        .await?;
    Ok(())
}

/// The example, run by the tests: real kubectl execs through the proxy `embed` built, and
/// the tap saw the output.
#[cfg(test)]
mod tests {
    use super::*;
    use kubewitness_sim::testbed::{Testbed, TestbedOptions, client_kubeconfig};

    #[tokio::test(flavor = "multi_thread")]
    async fn kubectl_execs_through_the_embedded_proxy_and_the_filter_sees_the_bytes() {
        let bed = Testbed::start(TestbedOptions::default())
            .await
            .expect("testbed");
        let cfg = &bed.config;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let server = embed(
            cfg.upstream
                .kubeconfig
                .as_deref()
                .expect("upstream kubeconfig"),
            cfg.auth.token_file.as_deref().expect("token file"),
            cfg.tls.clone().expect("tls"),
            seen.clone(),
        )
        .await
        .expect("the example builds its proxy");
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.serve(std::future::pending()));
        let caller = &bed.callers[0];
        let kubeconfig = bed.dir().join("embed.kubeconfig");
        let config = client_kubeconfig(addr, bed.ca.ca_pem(), &caller.user, &caller.token);
        std::fs::write(&kubeconfig, config).unwrap();
        let marker = "embedded-proxy-says-hello";
        let out = tokio::process::Command::new("/usr/bin/kubectl")
            .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
            .args(["exec", "web-0", "--", "echo", marker])
            .env("HOME", bed.dir())
            .output()
            .await
            .expect("kubectl runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "kubectl failed: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{marker}\n"));
        let seen = String::from_utf8(seen.lock().unwrap().clone()).unwrap();
        assert!(seen.contains(marker), "the filter saw: {seen:?}");
    }
}
