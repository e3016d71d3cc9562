//! Listener limits: what one client may hold before it has proved who it is.
//!
//! None of these need a credential to hit, so each is bounded here, before routing:
//!
//! - connections: at most [`MAX_CONNECTIONS`] at once, and [`MAX_CONNECTIONS_PER_ADDRESS`]
//!   from one client address; a connection over either limit is closed as soon as it is
//!   accepted (no TLS handshake, no bytes read), so it costs a descriptor for a moment only;
//! - silence: a connection with no request in flight is closed after [`IDLE_TIMEOUT`]
//!   without a new one (this covers a TLS connection that never sends, a client stuck before
//!   the HTTP version is known and an idle keep-alive connection alike); an HTTP/1.1 request
//!   head must arrive within [`HEADER_READ_TIMEOUT`];
//! - request bodies: at most [`MAX_BODY_BYTES`], read within [`BODY_READ_TIMEOUT`], and
//!   none at all on GET, HEAD, DELETE and OPTIONS (`server/body.rs`);
//! - time to answer: a request gets its response head within [`REQUEST_TIMEOUT`] (504
//!   with a `Status` otherwise); a watch, a log follow or an exec session goes on after its
//!   head for as long as it runs;
//! - HTTP/2: at most [`H2_MAX_CONCURRENT_STREAMS`] streams per connection and header lists
//!   of at most [`H2_MAX_HEADER_LIST_SIZE`] bytes;
//! - request heads: a request line (method and target) of at most
//!   [`MAX_REQUEST_LINE_BYTES`], at most [`MAX_HEADER_COUNT`] header fields and
//!   [`MAX_HEADER_BYTES`] of them, each answered with a Kubernetes `Status` body (414 or 431)
//!   that kubectl prints, before authentication (`server/head.rs`). Heads past hyper's own
//!   bounds ([`HYPER_MAX_HEADERS`] fields, hyper's read buffer of about 400 KiB) are refused
//!   by hyper with a bare 431 and the connection closed.
//!
//! Each has a key under `listener:` in the configuration file ([`ListenerConfig`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::sync::Notify;

use crate::config::ListenerConfig;

/// How long an HTTP/1.1 request head may take to arrive (hyper counts from the end of the
/// previous response, so this also closes an idle keep-alive connection).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may stay open with no request in flight.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a request may take until its response head (kube-apiserver's default
/// `--request-timeout` is one minute too).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long reading a request body may take.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request body read (kube-apiserver's own limit is 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// The most client connections open at once.
pub const MAX_CONNECTIONS: usize = 4096;
/// The most connections open at once from one client address.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 128;
/// The most concurrent HTTP/2 streams per connection.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 128;
/// The largest HTTP/2 header list, in bytes.
pub const H2_MAX_HEADER_LIST_SIZE: u32 = 64 * 1024;
/// The longest request line (method and target), in bytes.
pub const MAX_REQUEST_LINE_BYTES: usize = 16 * 1024;
/// The most header fields in one request.
pub const MAX_HEADER_COUNT: usize = 100;
/// The most bytes of header names and values in one request.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// The most header fields hyper parses in an HTTP/1.1 head; above [`MAX_HEADER_COUNT`] so
/// that a head with too many fields still gets a `Status` answer.
pub const HYPER_MAX_HEADERS: usize = 256;

/// The listener limits in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerLimits {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// See [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// See [`MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`MAX_CONNECTIONS_PER_ADDRESS`].
    pub max_connections_per_address: usize,
    /// See [`H2_MAX_CONCURRENT_STREAMS`].
    pub h2_max_concurrent_streams: u32,
    /// See [`MAX_REQUEST_LINE_BYTES`].
    pub max_request_line_bytes: usize,
    /// See [`MAX_HEADER_COUNT`].
    pub max_header_count: usize,
    /// See [`MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits::from_config(&ListenerConfig::default())
    }
}

impl ListenerLimits {
    /// The limits a configuration sets, defaults for the rest.
    pub fn from_config(cfg: &ListenerConfig) -> ListenerLimits {
        let secs = |v: Option<u64>, d: Duration| v.map_or(d, Duration::from_secs);
        ListenerLimits {
            header_read_timeout: secs(cfg.header_read_timeout_seconds, HEADER_READ_TIMEOUT),
            idle_timeout: secs(cfg.idle_timeout_seconds, IDLE_TIMEOUT),
            body_read_timeout: secs(cfg.body_read_timeout_seconds, BODY_READ_TIMEOUT),
            request_timeout: secs(cfg.request_timeout_seconds, REQUEST_TIMEOUT),
            max_body_bytes: cfg.max_body_bytes.unwrap_or(MAX_BODY_BYTES),
            max_connections: cfg.max_connections.unwrap_or(MAX_CONNECTIONS),
            max_connections_per_address: cfg
                .max_connections_per_address
                .unwrap_or(MAX_CONNECTIONS_PER_ADDRESS),
            h2_max_concurrent_streams: cfg
                .http2_max_concurrent_streams
                .unwrap_or(H2_MAX_CONCURRENT_STREAMS),
            max_request_line_bytes: cfg.max_request_line_bytes.unwrap_or(MAX_REQUEST_LINE_BYTES),
            max_header_count: cfg.max_header_count.unwrap_or(MAX_HEADER_COUNT),
            max_header_bytes: cfg.max_header_bytes.unwrap_or(MAX_HEADER_BYTES),
        }
    }
}

/// The HTTP/1.1 + HTTP/2 connection builder, with the limits set.
pub(super) fn builder(limits: &ListenerLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(HYPER_MAX_HEADERS.max(limits.max_header_count + 1));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(H2_MAX_HEADER_LIST_SIZE);
    builder
}

/// Open connections, overall and per client address.
#[derive(Debug, Default)]
pub(super) struct Connections {
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One counted connection; dropping it frees its place.
#[derive(Debug)]
pub(super) struct ConnectionSlot {
    connections: Arc<Connections>,
    address: IpAddr,
}

impl Connections {
    /// Counts a new connection from `address`, or `None` when over a limit.
    pub(super) fn admit(
        self: &Arc<Self>,
        address: IpAddr,
        limits: &ListenerLimits,
    ) -> Option<ConnectionSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mine = counts.by_address.get(&address).copied().unwrap_or(0);
        if counts.total >= limits.max_connections || mine >= limits.max_connections_per_address {
            return None;
        }
        counts.by_address.insert(address, mine + 1);
        counts.total += 1;
        Some(ConnectionSlot {
            connections: self.clone(),
            address,
        })
    }

    /// Connections open now.
    pub(super) fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self
            .connections
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                counts.by_address.remove(&self.address);
            }
        }
    }
}

/// Requests in flight on one connection, so the connection can be closed once it has
/// been idle for [`ListenerLimits::idle_timeout`].
#[derive(Debug, Default)]
pub(super) struct Activity {
    in_flight: AtomicUsize,
    changed: Notify,
}

/// Held from a request's arrival until its response body is done.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Activity>);

impl Activity {
    /// Counts a request in flight.
    pub(super) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.changed.notify_waiters();
        InFlight(self.clone())
    }

    /// Resolves once the connection has had no request in flight for `idle`.
    pub(super) async fn idle_for(&self, idle: Duration) {
        loop {
            let changed = self.changed.notified();
            if self.in_flight.load(Ordering::Relaxed) == 0 {
                if tokio::time::timeout(idle, changed).await.is_err() {
                    return;
                }
            } else {
                changed.await;
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_limited_overall_and_per_address() {
        let limits = ListenerLimits {
            max_connections: 3,
            max_connections_per_address: 2,
            ..ListenerLimits::default()
        };
        let c = Arc::new(Connections::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = c.admit(a, &limits).unwrap();
        let _a2 = c.admit(a, &limits).unwrap();
        assert!(c.admit(a, &limits).is_none(), "a third from one address");
        let _b1 = c.admit(b, &limits).unwrap();
        assert!(c.admit(b, &limits).is_none(), "a fourth overall");
        drop(a1);
        assert_eq!(c.open(), 2);
        assert!(c.admit(b, &limits).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_with_nothing_in_flight() {
        let activity = Arc::new(Activity::default());
        let idle = Duration::from_secs(5);
        let busy = activity.start();
        let waited = tokio::time::timeout(Duration::from_secs(60), activity.idle_for(idle)).await;
        assert!(waited.is_err(), "idle while a request was in flight");
        let started = tokio::time::Instant::now();
        let watcher = {
            let activity = activity.clone();
            tokio::spawn(async move { activity.idle_for(idle).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(busy);
        watcher.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(6));
    }
}
