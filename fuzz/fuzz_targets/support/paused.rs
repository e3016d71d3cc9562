//! The driver targets' runtime: one current-thread runtime per thread with a paused clock,
//! so timers cost no wall time.

use std::cell::RefCell;
use std::future::Future;

thread_local! {
    static RUNTIME: RefCell<tokio::runtime::Runtime> = RefCell::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime"),
    );
}

/// Runs `future` to completion on this thread's paused-clock runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|rt| rt.borrow().block_on(future))
}
