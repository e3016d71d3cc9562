//! `spdy_header_block`: see `proxy_core::fuzz_bridge::spdy_header_block` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxy_core::fuzz_bridge::spdy_header_block(data));
