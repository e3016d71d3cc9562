//! Fault injection against a running testbed with real `/usr/bin/kubectl`: an upstream that
//! drops the connection or stalls mid-session, a recording store that slows down or fails,
//! and a spool on a full disk. Each fault must end the session with a clear error kubectl
//! prints (never a silent exit 0), and leave a recording that verifies — sealed, or sealed
//! as `interrupted` after the restart that recovers it — holding what the client saw.

// The kubectl helpers are shared with the `kubectl` test binary; not every one is used here.
#[allow(dead_code)]
#[path = "../kubectl/support.rs"]
mod support;

mod front;
mod spool;
mod storage;
mod store;
mod upstream;
