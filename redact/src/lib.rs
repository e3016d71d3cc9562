//! Streaming secret redaction (see the redaction issue; filled in by its own work).
#![forbid(unsafe_code)]
