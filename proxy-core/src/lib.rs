//! kubewitness core: a recording, policy-enforcing reverse proxy for Kubernetes `exec`,
//! `attach` and `logs`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod channel;
pub mod config;
pub mod peer;
pub mod pipeline;
pub mod request;
#[cfg(feature = "sim")]
pub mod sim;
pub mod spdy;
pub mod status;
pub mod tls;
pub mod websocket;
