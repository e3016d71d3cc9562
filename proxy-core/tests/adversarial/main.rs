//! Hostile clients against a running testbed (the simulated API server and kubewitness over
//! TLS), over raw TLS sockets: HTTP/1.1 upgrades by hand, then bytes crafted here (our own
//! encoders for well-formed frames, hand-made bytes for malformed ones).
//!
//! Each case asserts (a) a clear error (a Kubernetes `Status`, SPDY RST_STREAM/GOAWAY, a
//! WebSocket close code with a reason) or a closed stream, never a panic or a hang (every read
//! has a timeout); (b) bounded memory where the case is about memory (this process's VmRSS,
//! sampled during the attack, grows less than 64 MiB while the attack would cost GiBs if
//! anything were unbounded; those tests run alone); (c) the process keeps serving others: a
//! real `kubectl exec` on a new connection succeeds afterwards.

mod raw;
mod support;

mod answers;
mod backpressure;
mod fairness;
mod forgery;
mod listener;
mod portforward;
mod query;
mod spdy;
mod stdin;
mod websocket;
