//! `request_classifier`: see `proxy_core::fuzz_bridge::request_classifier` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxy_core::fuzz_bridge::request_classifier(data));
