//! The Prometheus gateway against a real Prometheus server (the distribution's
//! `prometheus`, started by the tests on loopback with backfilled data): scoped answers,
//! every limit refusing with its name, Prometheus's error shape, audit and recording.

use kubewitness_test_support::prometheus as support;

mod answers;
mod records;
mod refusals;
