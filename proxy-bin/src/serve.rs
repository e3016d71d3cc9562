//! `kubewitness serve`.

use anyhow::Context;
use proxy_core::config::{Config, TlsConfig};
use proxy_core::server::ListenerLimits;
use proxy_core::{Proxy, Server};
use tracing::{info, warn};

use crate::Failure;
use crate::cli::ServeArgs;

/// Builds the configuration from the file and the flags.
pub(crate) fn config(args: &ServeArgs) -> Result<Config, Failure> {
    let mut cfg = match &args.config {
        Some(path) => Config::load(path).map_err(Failure::usage)?,
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        cfg.listen = Some(listen);
    }
    if args.tls_cert.is_some() || args.tls_key.is_some() || args.tls_client_ca.is_some() {
        let tls = cfg.tls.get_or_insert_with(TlsConfig::default);
        if let Some(c) = &args.tls_cert {
            tls.cert = c.clone();
        }
        if let Some(k) = &args.tls_key {
            tls.key = k.clone();
        }
        if let Some(ca) = &args.tls_client_ca {
            tls.client_ca = Some(ca.clone());
        }
    }
    if let Some(t) = &args.token_file {
        cfg.auth.token_file = Some(t.clone());
    }
    if let Some(r) = args.token_review {
        cfg.auth.token_review = r;
    }
    if let Some(k) = &args.kubeconfig {
        cfg.upstream.kubeconfig = Some(k.clone());
    }
    if let Some(c) = &args.context {
        cfg.upstream.context = Some(c.clone());
    }
    cfg.validate().map_err(Failure::usage)?;
    Ok(cfg)
}

pub(crate) async fn run(args: ServeArgs) -> Result<(), Failure> {
    let cfg = config(&args)?;
    let tls = match &cfg.tls {
        Some(t) => Some(proxy_core::tls::server_config(t).map_err(Failure::usage)?),
        None => {
            warn!(
                "no tls configured: serving plain HTTP on loopback only (kubectl will not send tokens over it)"
            );
            None
        }
    };
    let proxy = Proxy::builder()
        .config(cfg.clone())
        .build()
        .await
        .map_err(Failure::from_core)?;
    reload_on_sighup(&proxy);
    let server = Server::bind(cfg.listen_addr(), tls, proxy)
        .await
        .map_err(Failure::from_core)?
        .with_limits(ListenerLimits::from_config(&cfg.listener));
    info!(addr = %server.local_addr().context("local address")?, "kubewitness serving");
    server.serve(shutdown_signal()).await.context("serving")?;
    info!("kubewitness stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Reloads the policy and token files on every SIGHUP; an invalid file is logged with every
/// problem and the one in force stays.
fn reload_on_sighup(proxy: &std::sync::Arc<Proxy>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            return warn!(error = %e, "cannot listen for SIGHUP; reload is by file change only");
        }
    };
    let proxy = std::sync::Arc::downgrade(proxy);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let Some(proxy) = proxy.upgrade() else { return };
            info!("SIGHUP: reloading the policy and the token file");
            proxy.reload();
        }
    });
}
