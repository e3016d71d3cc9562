//! `kubewitness demo`: a simulated API server, kubewitness in front of it with TLS, a
//! kubeconfig for kubectl, and commands to try. Needs no cluster.
//!
//! The policy is the built-in one plus a `redact: false` rule allowing port-forward to
//! `default/web-0`, whose port 80 is a tiny HTTP responder started here.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use kubewitness_sim::SimConfig;
use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use proxy_core::policy::BUILTIN_POLICY;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::Failure;
use crate::cli::DemoArgs;

pub(crate) async fn run(args: DemoArgs) -> Result<(), Failure> {
    let web = http_responder()
        .await
        .context("starting web-0's responder")?;
    let mut sim = SimConfig::default();
    sim.port_forwards.insert(("default/web-0".into(), 80), web);
    let opts = TestbedOptions {
        listen: args.listen,
        dir: args.dir.clone(),
        sim,
        policy: Some(format!("{BUILTIN_POLICY}{DEMO_PORT_FORWARD_RULE}")),
        ..TestbedOptions::default()
    };
    let mut bed = Testbed::start(opts)
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .context("starting the demo")?;
    let kubeconfig = bed.kubeconfig.display().to_string();
    println!(
        "kubewitness demo: a simulated API server at {} with kubewitness in front of it at {}",
        bed.sim.url(),
        bed.url()
    );
    println!(
        "caller: {} (groups: {})",
        bed.callers[0].user,
        bed.callers[0].groups.join(", ")
    );
    println!();
    println!("In another terminal, try:");
    println!("  export KUBECONFIG={kubeconfig}");
    println!("  kubectl get pods");
    println!(
        "  kubectl exec web-0 -- sh -c 'echo hello from $(hostname); exit 3'; echo \"exit code: $?\""
    );
    println!("  kubectl logs -n shop api-7 --tail 5");
    println!("  kubectl port-forward web-0 8080:80 & sleep 2; curl -s localhost:8080; kill %1");
    println!();
    match args.r#for {
        Some(secs) => {
            println!("Running for {secs} s.");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(secs)) => {},
                _ = crate::serve::shutdown_signal() => {},
            }
        }
        None => {
            println!("Press Ctrl-C to stop.");
            crate::serve::shutdown_signal().await;
        }
    }
    bed.shutdown().await;
    Ok(())
}

/// Allows port-forward to the demo's web pod (recorded, never redacted).
const DEMO_PORT_FORWARD_RULE: &str = "\
- name: demo-portforward
  subjects: {groups: [\"system:authenticated\"]}
  namespaces: [default]
  pods: [web-0]
  read: [pods]
  portForward: true
  redact: false
";

/// The most of a request head the responder reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// A tiny HTTP responder standing in for web-0's port 80: every request gets one short
/// page, then the connection closes.
async fn http_responder() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "hello from web-0, through kubectl port-forward and kubewitness\n";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(addr)
}
