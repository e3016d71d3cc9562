//! `websocket_codec`: see `proxy_core::fuzz_bridge::websocket_codec` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxy_core::fuzz_bridge::websocket_codec(data));
