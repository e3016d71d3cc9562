//! Fault injection against a running testbed with real `/usr/bin/kubectl`: an upstream that
//! drops the connection or stalls mid-session, a recording store that slows down or fails,
//! and a spool on a full disk. Each fault must end the session with a clear error kubectl
//! prints (never a silent exit 0), and leave a recording that verifies — sealed, or sealed
//! as `interrupted` after the restart that recovers it — holding what the client saw.

use kubewitness_test_support::kubectl as support;

mod front;
mod spool;
mod storage;
mod store;
mod upstream;
