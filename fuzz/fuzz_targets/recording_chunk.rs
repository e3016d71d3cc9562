//! `recording_chunk`: see `proxy_core::fuzz_bridge::recording_chunk` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxy_core::fuzz_bridge::recording_chunk(data));
