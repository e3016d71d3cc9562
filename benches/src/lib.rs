//! Shared pieces of the kubewitness benchmarks: synthetic corpora ([`corpus`]), redaction
//! driven the way the proxy drives it ([`redaction`]), an in-process exec client over TLS
//! or plain HTTP ([`client`]), the end-to-end scenarios ([`e2e`]) and the statistics they
//! report ([`stats`]).
//!
//! The criterion benches in `benches/` and the `kw-bench` binary (driven by
//! `benches/compare.sh`) both use this library, so `cargo bench` and the side-by-side
//! comparison measure the same code paths.
#![forbid(unsafe_code)]

pub mod client;
pub mod corpus;
pub mod e2e;
pub mod portforward;
pub mod redaction;
pub mod stats;

/// Errors of the bench harness: reported and the run stops.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;
