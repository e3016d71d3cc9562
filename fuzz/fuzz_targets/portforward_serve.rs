//! `portforward_serve`: see `proxy_core::fuzz_bridge::portforward_serve` for the properties.
#![no_main]

#[path = "support/paused.rs"]
mod paused;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    paused::block_on(proxy_core::fuzz_bridge::portforward_serve(data))
});
