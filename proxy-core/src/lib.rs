//! kubewitness core: a recording, policy-enforcing reverse proxy for the Kubernetes API. It
//! terminates `pods/exec`, `pods/attach`, `pods/log` and `pods/portforward`, decides each
//! request by a policy, masks secrets in what sessions print, records every session to an
//! object store with a signed, verifiable chain, and forwards everything else.
//!
//! # Embedding
//!
//! The front door is [`Proxy::builder`]: from a [`config::Config`] or from parts (upstream,
//! authenticator, policy, recorder, redactor). Its [`Builder::build`] always runs recording
//! crash recovery and the policy and token file watchers unless told not to. Then either
//! serve it with [`Server`] (TLS, listener limits, graceful drain), or mount it in your own
//! server as a [`ProxyService`] (a hyper and tower `Service`, with your TLS). Your own
//! session filters ([`SessionFilters`], [`pipeline::Filter`]) run before the recording
//! filter. Start-up failures are one [`Error`] with a kind (`is_config()`, `is_storage()`,
//! …).
//!
//! ```no_run
//! use proxy_core::{Proxy, Server};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let cfg = proxy_core::config::Config::load("kubewitness.yaml".as_ref())?;
//! let proxy = Proxy::builder().config(cfg.clone()).build().await?;
//! let tls = cfg.tls.as_ref().map(proxy_core::tls::server_config).transpose()?;
//! let server = Server::bind(cfg.listen_addr(), tls, proxy).await?;
//! server.serve(async { tokio::signal::ctrl_c().await.unwrap_or(()) }).await?;
//! # Ok(()) }
//! ```
//!
//! `examples/embed.rs` builds one from parts, with an in-memory store and a filter of its
//! own.
//!
//! # Layers
//!
//! From the socket inwards:
//!
//! | Layer | Modules |
//! |---|---|
//! | Listener, TLS, routing, handlers | [`server`] |
//! | Who the caller is | [`auth`] |
//! | What a request is, what it may do | [`request`], [`access`], [`policy`] |
//! | Where it goes | [`upstream`] |
//! | A session's bytes: filters | [`pipeline`], [`redaction`] |
//! | Recording, verification, export | [`record`] |
//! | Gateways | [`prometheus`], `mcp` (feature `mcp`) |
//! | Configuration, files, TLS | [`config`], [`watched`], [`tls`], [`status`] |
//!
//! Below the pipeline sit the wire codecs and their drivers (`spdy`, `websocket`,
//! `portforward`, `channel`, `peer`): not an API, public only
//! with the `unstable` feature, for fuzzing, benches and the simulator.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Declares codec and driver modules: public (and hidden from the docs) with the `unstable`
/// feature, for the fuzz targets, benches and the simulator; private otherwise. Their items
/// are `pub` for that unstable surface, so `unreachable_pub` and `dead_code` do not apply to
/// them (nor to their re-exports) in a build without it.
macro_rules! unstable {
    ($name:ident) => {
        #[cfg(feature = "unstable")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "unstable"))]
        #[allow(unreachable_pub, dead_code, unused_imports)]
        mod $name;
    };
}

pub mod access;
pub mod admin;
pub mod auth;
mod bodies;
unstable! { channel }
pub mod config;
mod error;
mod files;
pub mod grants;
pub mod metrics;
// Compiled for the unit tests and `cargo fuzz` (which sets `--cfg fuzzing`) only.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzz_bridge;
unstable! { peer }
pub mod pipeline;
pub mod policy;
unstable! { portforward }
pub mod prometheus;
pub mod record;
pub mod redaction;
pub mod request;
pub mod server;
unstable! { spdy }
pub mod status;
pub mod tls;
pub mod upstream;
pub mod watched;
unstable! { websocket }

pub use error::Error;
/// The MCP gateway for AI agents (served by the [`server`], through its session pipeline).
#[cfg(feature = "mcp")]
pub use server::mcp;
pub use server::{Builder, Proxy, ProxyService, Server, SessionFilters};
