//! Helpers for kubewitness's integration tests (proxy-core's `kubectl`, `faults`, `soak` and
//! `prometheus` tests, proxy-bin's `forensics` and `mcp` tests): testbeds, running kubectl
//! and Python clients, reading what was recorded, and a real Prometheus. A library of its
//! own, like h2's `h2-support`, so the test binaries share it without `#[path]` includes.
#![forbid(unsafe_code)]

pub mod kubectl;
pub mod prometheus;
