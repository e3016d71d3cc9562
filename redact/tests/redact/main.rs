//! Integration tests of the redact crate: one binary, one module per concern.

mod config;
mod corpus;
mod rules;
mod stream;
mod support;
