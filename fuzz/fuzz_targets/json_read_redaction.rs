//! `json_read_redaction`: see `proxy_core::fuzz_bridge::json_read_redaction` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxy_core::fuzz_bridge::json_read_redaction(data));
