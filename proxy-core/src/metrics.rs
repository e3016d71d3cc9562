//! The process's metrics: one [`Metrics`] registry, hooks called from single points in the
//! proxy, and the Prometheus text encoding served at `/metrics`.
//!
//! Every hook is one call at the place the event happens (session start and end, the
//! pipeline's byte accounting, a policy decision, a redaction, a recording chunk write, an
//! upstream request, a rate-limit refusal, an authentication failure). Counters are atomics;
//! the byte counters a session touches for every frame are looked up once when the session
//! starts, so counting a frame is an atomic add and never allocates. Labels are bounded:
//! kinds, channels, directions, results and reasons are fixed sets; rule names come from the
//! policy and redaction files (a handful, chosen by the operator), never from a request.
//!
//! The registry is process-wide (like a Prometheus client's default registry): the hooks sit
//! deep in modules that know nothing of the proxy they serve, and one process serves one
//! proxy. An embedder reaches it through [`crate::Proxy::metrics`] or [`metrics()`].

pub(crate) mod meter;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::channel::Channel;
use crate::pipeline::{Direction, EndReason, SessionEnd};

/// The `Content-Type` of `/metrics` (the Prometheus text format, version 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Every metric name starts with this.
pub const PREFIX: &str = "kubewitness";

type Labels1 = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];
type RuleLabels = [(&'static str, String); 1];
type RuleResultLabels = [(&'static str, String); 2];

/// The process's metrics. Cheap to share: every field is a handle onto atomics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    sessions_active: Family<Labels1, Gauge>,
    sessions: Family<Labels2, Counter>,
    session_bytes: Family<Labels2, Counter>,
    decisions: Family<RuleResultLabels, Counter>,
    redactions: Family<RuleLabels, Counter>,
    chunks: Family<Labels1, Counter>,
    queue_bytes: Gauge,
    store_write: Histogram,
    upstream: Family<Labels1, Histogram>,
    rate_limited: Family<Labels1, Counter>,
    auth_failures: Family<Labels1, Counter>,
    cert_expiry: Gauge,
    token_expiry: Gauge,
}

/// The process's metrics (created on first use).
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Latency buckets from 1 ms to about 33 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix(PREFIX),
            sessions_active: Family::default(),
            sessions: Family::default(),
            session_bytes: Family::default(),
            decisions: Family::default(),
            redactions: Family::default(),
            chunks: Family::default(),
            queue_bytes: Gauge::default(),
            store_write: latency_histogram(),
            upstream: Family::new_with_constructor(latency_histogram),
            rate_limited: Family::default(),
            auth_failures: Family::default(),
            cert_expiry: Gauge::default(),
            token_expiry: Gauge::default(),
        };
        let r = &mut m.registry;
        r.register(
            "sessions_active",
            "Sessions running now, by kind",
            m.sessions_active.clone(),
        );
        r.register(
            "sessions",
            "Sessions ended, by kind and outcome",
            m.sessions.clone(),
        );
        r.register(
            "session_bytes",
            "Session payload bytes, by channel and direction",
            m.session_bytes.clone(),
        );
        r.register(
            "policy_decisions",
            "Policy decisions, by rule and result",
            m.decisions.clone(),
        );
        r.register(
            "redactions",
            "Secrets masked in session output, by redaction rule",
            m.redactions.clone(),
        );
        r.register(
            "recording_chunks",
            "Recording chunks written to the store, by result",
            m.chunks.clone(),
        );
        r.register(
            "recording_queue_bytes",
            "Session bytes accepted but not yet durably stored",
            m.queue_bytes.clone(),
        );
        r.register(
            "store_write_seconds",
            "Time one recording chunk write to the store took",
            m.store_write.clone(),
        );
        r.register(
            "upstream_request_seconds",
            "Time the API server took to answer, by kind (request, stream)",
            m.upstream.clone(),
        );
        r.register(
            "rate_limited",
            "Requests refused by a rate or stream limit, by limiter",
            m.rate_limited.clone(),
        );
        r.register(
            "auth_failures",
            "Requests that failed authentication, by reason",
            m.auth_failures.clone(),
        );
        r.register(
            "serving_certificate_expiry_timestamp_seconds",
            "When the serving certificate expires (unix seconds; 0 without TLS)",
            m.cert_expiry.clone(),
        );
        r.register(
            "upstream_token_expiry_timestamp_seconds",
            "When the upstream credential expires (unix seconds; 0 when it does not)",
            m.token_expiry.clone(),
        );
        m.precreate();
        m
    }

    /// Creates the series whose labels are a fixed set, at zero, so they are scraped (and
    /// `increase()` works) before their first event.
    fn precreate(&self) {
        for kind in ["exec", "attach", "logs", "portforward"] {
            let _ = self.sessions_active.get_or_create(&[("kind", kind)]);
        }
        for result in ["written", "failed"] {
            let _ = self.chunks.get_or_create(&[("result", result)]);
        }
        for kind in ["request", "stream"] {
            let _ = self.upstream.get_or_create(&[("kind", kind)]);
        }
        for limiter in ["policy", "unauthenticated"] {
            let _ = self.rate_limited.get_or_create(&[("limiter", limiter)]);
        }
        for reason in ["missing", "invalid", "unavailable", "throttled"] {
            let _ = self.auth_failures.get_or_create(&[("reason", reason)]);
        }
    }

    /// The registry, for an embedder that serves it itself or adds its own metrics to the
    /// same scrape (encode it with `prometheus_client::encoding::text::encode`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every metric in the Prometheus text format (what `/metrics` serves).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// A session of `kind` started: counted active until the returned meter ends it.
    pub(crate) fn session_started(&self, kind: &'static str) -> SessionMeter {
        self.sessions_active.get_or_create(&[("kind", kind)]).inc();
        let lookup = |dir: &'static str| {
            Channel::ALL.map(|c| {
                self.session_bytes
                    .get_or_create(&[("channel", c.stream_type()), ("direction", dir)])
                    .clone()
            })
        };
        SessionMeter {
            kind,
            to_server: lookup("to_server"),
            to_client: lookup("to_client"),
            ended: AtomicBool::new(false),
        }
    }

    /// A policy decision: `result` is `allow`, `deny`, `limited` or `invalid`; `rule` the
    /// rule behind it (empty: none matched).
    pub(crate) fn policy_decision(&self, rule: Option<&str>, result: &'static str) {
        let rule = rule.filter(|r| !r.is_empty()).unwrap_or("none").to_string();
        self.decisions
            .get_or_create(&[("rule", rule), ("result", result.to_string())])
            .inc();
        if result == "limited" {
            self.rate_limited(RateLimiter::Policy);
        }
    }

    /// A secret masked by redaction rule `rule`.
    pub(crate) fn redaction(&self, rule: &str) {
        self.redactions
            .get_or_create(&[("rule", rule.to_string())])
            .inc();
    }

    /// One recording chunk write to the store, how long it took and whether it worked.
    pub(crate) fn store_write(&self, took: Duration, ok: bool) {
        self.store_write.observe(took.as_secs_f64());
        let result = if ok { "written" } else { "failed" };
        self.chunks.get_or_create(&[("result", result)]).inc();
    }

    /// `n` bytes entered (`delta > 0`) or left the recording queue.
    pub(crate) fn queue_bytes(&self, delta: i64) {
        self.queue_bytes.inc_by(delta);
    }

    /// Times one upstream request of `kind` (`request` or `stream`) until dropped.
    pub(crate) fn upstream_timer(&self, kind: &'static str) -> UpstreamTimer {
        UpstreamTimer {
            kind,
            start: Instant::now(),
        }
    }

    /// A request refused by `limiter`.
    pub(crate) fn rate_limited(&self, limiter: RateLimiter) {
        let name = match limiter {
            RateLimiter::Policy => "policy",
            RateLimiter::Unauthenticated => "unauthenticated",
        };
        self.rate_limited.get_or_create(&[("limiter", name)]).inc();
    }

    /// A request that failed authentication: `reason` is `missing`, `invalid`,
    /// `unavailable` or `throttled` (the last also counts as a rate-limit refusal).
    pub(crate) fn auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&[("reason", reason)])
            .inc();
        if reason == "throttled" {
            self.rate_limited(RateLimiter::Unauthenticated);
        }
    }

    /// Sets when the serving certificate expires, in unix seconds.
    pub fn set_serving_certificate_expiry(&self, unix_seconds: i64) {
        self.cert_expiry.set(unix_seconds);
    }

    /// Sets when the upstream credential expires, in unix seconds (0: it does not). Called
    /// by whatever refreshes that credential, after each refresh.
    pub fn set_upstream_token_expiry(&self, unix_seconds: i64) {
        self.token_expiry.set(unix_seconds);
    }
}

/// Which limiter refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RateLimiter {
    /// A policy rule's rate or stream limit.
    Policy,
    /// The per-address budget of unauthenticated requests.
    Unauthenticated,
}

/// Observes an upstream request's latency when dropped.
#[derive(Debug)]
pub(crate) struct UpstreamTimer {
    kind: &'static str,
    start: Instant,
}

impl Drop for UpstreamTimer {
    fn drop(&mut self) {
        metrics()
            .upstream
            .get_or_create(&[("kind", self.kind)])
            .observe(self.start.elapsed().as_secs_f64());
    }
}

/// One session's counters: bytes by channel and direction (resolved at start), and its
/// outcome when it ends. Dropped without [`SessionMeter::end`] it counts as `client_gone`.
#[derive(Debug)]
pub(crate) struct SessionMeter {
    kind: &'static str,
    to_server: [Counter; 5],
    to_client: [Counter; 5],
    ended: AtomicBool,
}

impl SessionMeter {
    /// Counts `n` payload bytes on `channel` going `dir`: one atomic add.
    pub(crate) fn bytes(&self, dir: Direction, channel: Channel, n: usize) {
        let counters = match dir {
            Direction::ToServer => &self.to_server,
            Direction::ToClient => &self.to_client,
        };
        counters[usize::from(channel.index())].inc_by(n as u64);
    }

    /// The session ended as `end` says (counted once).
    pub(crate) fn end(&self, end: &SessionEnd) {
        self.count(outcome(end));
    }

    fn count(&self, outcome: &'static str) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let m = metrics();
        m.sessions_active
            .get_or_create(&[("kind", self.kind)])
            .dec();
        m.sessions
            .get_or_create(&[("kind", self.kind), ("outcome", outcome)])
            .inc();
    }
}

impl Drop for SessionMeter {
    fn drop(&mut self) {
        self.count("client_gone");
    }
}

/// The `outcome` label of a session's end.
fn outcome(end: &SessionEnd) -> &'static str {
    match end.reason {
        EndReason::Completed if end.status.is_success() => "success",
        EndReason::Completed => "failure",
        EndReason::ServerLost => "server_lost",
        EndReason::ClientGone => "client_gone",
        EndReason::Ended => "ended",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;

    /// The value of the first sample line starting with `series`.
    fn sample(text: &str, series: &str) -> f64 {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    #[test]
    fn a_session_moves_its_gauges_and_counters() {
        let m = metrics();
        let before = m.encode();
        let meter = m.session_started("attach");
        meter.bytes(Direction::ToClient, Channel::Stdout, 7);
        let during = m.encode();
        assert_eq!(
            sample(&during, "kubewitness_sessions_active{kind=\"attach\"}"),
            sample(&before, "kubewitness_sessions_active{kind=\"attach\"}") + 1.0
        );
        let bytes = "kubewitness_session_bytes_total{channel=\"stdout\",direction=\"to_client\"}";
        assert!(sample(&during, bytes) >= sample(&before, bytes) + 7.0);
        meter.end(&SessionEnd {
            reason: EndReason::Completed,
            status: Status::success(),
        });
        drop(meter);
        let after = m.encode();
        let done = "kubewitness_sessions_total{kind=\"attach\",outcome=\"success\"}";
        assert_eq!(sample(&after, done), sample(&before, done) + 1.0);
        assert!(after.contains("# TYPE kubewitness_store_write_seconds histogram"));
    }

    /// Every metric `docs/OPERATIONS.md` lists is served, and every served one is listed.
    #[test]
    fn the_operations_guide_lists_exactly_the_metrics_served() {
        // The families labelled by rule have series once a rule was used.
        metrics().policy_decision(Some("guide-test"), "allow");
        metrics().redaction("guide-test");
        let _ = metrics().session_started("exec");
        let guide = include_str!("../../docs/OPERATIONS.md");
        let documented: std::collections::BTreeSet<&str> = guide
            .lines()
            .filter_map(|l| l.strip_prefix("| `kubewitness_"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let served: std::collections::BTreeSet<String> = metrics()
            .encode()
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE kubewitness_"))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_string)
            .collect();
        let served: std::collections::BTreeSet<&str> = served.iter().map(String::as_str).collect();
        assert_eq!(documented, served);
    }

    #[test]
    fn a_throttled_caller_is_an_auth_failure_and_a_rate_limit() {
        let m = metrics();
        let series = "kubewitness_rate_limited_total{limiter=\"unauthenticated\"}";
        let before = sample(&m.encode(), series);
        m.auth_failure("throttled");
        assert!(sample(&m.encode(), series) >= before + 1.0);
    }
}
