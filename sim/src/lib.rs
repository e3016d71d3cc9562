//! kubewitness-sim: a simulated Kubernetes API server for `kubewitness demo`, the tests and
//! the benches, with [`testbed`] (the simulator behind a running proxy) and [`TestCa`].
//! It is never part of a production build: `proxy-bin` depends on it only under its `demo`
//! feature.
//!
//! [`SimServer::start`] serves, on `127.0.0.1:0` (HTTP/1.1 and HTTP/2, optionally TLS with a
//! CA generated at start), enough of the API for kubectl, client-go and kube-rs:
//!
//! * writes with the API server's semantics and `dryRun=All` (see `writes`): pod delete
//!   and eviction, the `kubectl rollout restart` patch of deployments and statefulsets,
//!   their `scale` subresource, and node cordon/uncordon; [`SimServer::writes`] lists
//!   the write requests received and [`SimServer::object`] reads an object's state;
//! * legacy discovery (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}/v1`), answered
//!   as `application/json` so clients asking for aggregated discovery fall back;
//! * GET/LIST (label and field selectors, `Table` output, watches) of pods, namespaces,
//!   events, secrets, configmaps, services, nodes and a few `apps/v1` objects;
//!   ephemeral containers added by `kubectl debug` (PATCH `pods/NAME/ephemeralcontainers`);
//!   TokenReview from [`SimConfig::token_reviews`]; TokenRequest (service account tokens
//!   the simulator then accepts until they expire); SelfSubjectAccessReview and
//!   SelfSubjectRulesReview (the simulated RBAC allows everything);
//! * `pods/log` with the API server's options and a finite `follow`;
//! * `pods/exec` and `pods/attach` over SPDY/3.1 (v4) and WebSocket (v5, v4, base64),
//!   running the command as a local process (pipes or a pseudo-terminal) in a per-server
//!   scratch directory: see [`process`]; a pod's [`SimFault`] breaks its sessions on purpose
//!   (dropped connection, hung process, silent upstream);
//! * `pods/portforward` over SPDY/3.1, each forwarded connection relayed to the address
//!   [`SimConfig::port_forwards`] maps its pod and port to.
//!
//! Every request is recorded before authentication ([`SimServer::requests`]); requests
//! without [`SimConfig::token`] or a token it minted get `401`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ca;
mod clock;
mod config;
mod discovery;
mod ephemeral;
mod exec;
mod fault;
mod logs;
mod oidc;
mod patch;
mod portforward;
pub mod process;
pub mod resize;
mod respond;
mod rest;
mod review;
mod router;
mod selector;
mod server;
mod store;
mod table;
pub mod testbed;
mod tls;
mod tokenrequest;
mod tty;
mod writes;

#[cfg(test)]
mod tests;

pub use ca::{IssuedCert, TestCa};
pub use config::{SimConfig, SimContainer, SimNamespace, SimPod, SimTermination};
pub use fault::{Severable, SimFault};
pub use oidc::{TestAlg, TestIssuer};
pub use portforward::echo_server;
pub use server::{RecordedRequest, SimServer};
