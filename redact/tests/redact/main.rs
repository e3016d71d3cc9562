//! Integration tests of the redact crate: one binary, one module per concern.

mod config;
mod rules;
mod stream;
mod support;
