//! kubewitness core: a recording, policy-enforcing reverse proxy for Kubernetes `exec`,
//! `attach` and `logs`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod access;
pub mod auth;
pub mod channel;
pub mod config;
pub mod downstream;
// Compiled for the unit tests and `cargo fuzz` (which sets `--cfg fuzzing`) only.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzz_bridge;
pub mod logstream;
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod peer;
pub mod pipeline;
pub mod policy;
pub mod portforward;
pub mod prometheus;
pub mod record;
pub mod redaction;
pub mod request;
pub mod server;
pub mod spdy;
pub mod status;
pub mod tls;
pub mod upstream;
pub mod watched;
pub mod websocket;
