//! `recording_verify`: see `proxy_core::fuzz_bridge::recording_verify`. The valid recording
//! is made once, with the real recorder, and every input mutates a copy of it.
#![no_main]

use std::sync::OnceLock;

use proxy_core::fuzz_bridge::Recording;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn recording() -> &'static Recording {
    static RECORDING: OnceLock<Recording> = OnceLock::new();
    RECORDING.get_or_init(|| runtime().block_on(Recording::record()))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    runtime().block_on(proxy_core::fuzz_bridge::recording_verify(recording(), data))
});
