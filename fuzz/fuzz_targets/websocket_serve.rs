//! `websocket_serve`: see `proxy_core::fuzz_bridge::websocket_serve` for the properties.
//! One current-thread runtime with a paused clock, so timers cost no wall time.
#![no_main]

use std::cell::RefCell;

thread_local! {
    static RUNTIME: RefCell<tokio::runtime::Runtime> = RefCell::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime"),
    );
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    RUNTIME.with(|rt| {
        rt.borrow()
            .block_on(proxy_core::fuzz_bridge::websocket_serve(data))
    })
});
