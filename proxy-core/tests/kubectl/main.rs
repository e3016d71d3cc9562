//! Real `/usr/bin/kubectl` against kubewitness in front of the simulated API server.
//!
//! Each test starts its own testbed (sim + kubewitness on loopback, fresh CA and tokens)
//! and runs kubectl as a child process with an isolated `HOME` (no shared discovery cache).

use kubewitness_test_support::kubectl as support;

mod admin;
mod auth;
mod debug;
mod everyday;
mod exec;
mod grants;
mod grants_writes;
mod kube_rs;
mod logs;
mod oidc;
mod policy;
mod portforward;
mod python;
mod readredact;
mod recording;
mod redaction;
mod rotation;
mod selfreview;
mod tokenrequest;
mod tokenreview;
mod transports;
