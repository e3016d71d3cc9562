//! `config_policy`: see `proxy_core::fuzz_bridge::config_policy` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxy_core::fuzz_bridge::config_policy(data));
