//! Per-identity token buckets and stream counts, plus the global stream limit.
//!
//! Buckets are keyed by `(user, rule)`: the limits come from the rule that allowed the
//! request, so two rules with different rates never share (and fight over) one bucket.
//! Streams (exec, attach, logs) are counted per user and globally; a [`StreamPermit`] is
//! held for the life of a stream and releases its slot when dropped.
//!
//! Memory is bounded: at most [`MAX_TRACKED_BUCKETS`] buckets are kept; when full, buckets
//! that have refilled completely (indistinguishable from new ones) are dropped first.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::RateLimit;

/// The most token buckets kept at once.
pub const MAX_TRACKED_BUCKETS: usize = 10_000;

/// A request or stream over its limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limited {
    /// When to try again (the `Retry-After` header, rounded up to whole seconds).
    pub retry_after: Duration,
    /// What was exceeded.
    pub reason: String,
}

impl fmt::Display for Limited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<(String, String), Bucket>,
    streams: HashMap<String, u64>,
    total: u64,
}

/// Rate and stream limits for all callers.
#[derive(Debug, Default)]
pub struct Limiter {
    state: Mutex<State>,
}

/// A running stream's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct StreamPermit {
    limiter: Arc<Limiter>,
    user: String,
}

impl Limiter {
    /// A limiter with nothing counted.
    pub fn new() -> Arc<Limiter> {
        Arc::new(Limiter::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another request panicked mid-update; counts stay usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one token from `user`'s bucket for `rule`.
    pub fn check_request(
        &self,
        user: &str,
        rule: &str,
        rate: &RateLimit,
        now: Instant,
    ) -> Result<(), Limited> {
        let Some(rps) = rate.requests_per_second else {
            return Ok(());
        };
        let burst = rate.burst as f64;
        let mut st = self.lock();
        let key = (user.to_string(), rule.to_string());
        if !st.buckets.contains_key(&key) && st.buckets.len() >= MAX_TRACKED_BUCKETS {
            st.buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rps < burst
            });
            if st.buckets.len() >= MAX_TRACKED_BUCKETS {
                return Err(Limited {
                    retry_after: Duration::from_secs(1),
                    reason: "too many distinct callers are being rate limited".into(),
                });
            }
        }
        let b = st.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rps).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / rps;
            Err(Limited {
                retry_after: Duration::from_secs(wait.ceil().max(1.0) as u64),
                reason: format!(
                    "rate limit of {rps} requests per second (burst {}) exceeded",
                    rate.burst
                ),
            })
        }
    }

    /// Counts a new stream for `user`, within `per_user` and `global`.
    pub fn start_stream(
        self: &Arc<Self>,
        user: &str,
        per_user: Option<u64>,
        global: u64,
    ) -> Result<StreamPermit, Limited> {
        let mut st = self.lock();
        if st.total >= global {
            return Err(Limited {
                retry_after: Duration::from_secs(1),
                reason: format!("kubewitness is at its limit of {global} concurrent streams"),
            });
        }
        let mine = st.streams.get(user).copied().unwrap_or(0);
        if let Some(max) = per_user
            && mine >= max
        {
            return Err(Limited {
                retry_after: Duration::from_secs(1),
                reason: format!("limit of {max} concurrent streams for {user} reached"),
            });
        }
        st.streams.insert(user.to_string(), mine + 1);
        st.total += 1;
        Ok(StreamPermit {
            limiter: self.clone(),
            user: user.to_string(),
        })
    }

    /// Streams running now, for everyone.
    pub fn streams(&self) -> u64 {
        self.lock().total
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut st = self.limiter.lock();
        st.total = st.total.saturating_sub(1);
        if let Some(n) = st.streams.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                st.streams.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(rps: f64, burst: u64) -> RateLimit {
        RateLimit {
            requests_per_second: Some(rps),
            burst,
            max_concurrent_streams: None,
        }
    }

    #[test]
    fn the_bucket_allows_a_burst_then_refills() {
        let l = Limiter::new();
        let t0 = Instant::now();
        let r = rate(2.0, 3);
        for _ in 0..3 {
            l.check_request("alice", "r", &r, t0).unwrap();
        }
        let err = l.check_request("alice", "r", &r, t0).unwrap_err();
        assert_eq!(err.retry_after, Duration::from_secs(1));
        // Other users and other rules have their own buckets.
        l.check_request("bob", "r", &r, t0).unwrap();
        l.check_request("alice", "other", &r, t0).unwrap();
        // Half a second at 2/s refills one token.
        l.check_request("alice", "r", &r, t0 + Duration::from_millis(500))
            .unwrap();
        assert!(
            l.check_request("alice", "r", &r, t0 + Duration::from_millis(500))
                .is_err()
        );
        let slow = rate(0.1, 1);
        l.check_request("carol", "r", &slow, t0).unwrap();
        assert_eq!(
            l.check_request("carol", "r", &slow, t0)
                .unwrap_err()
                .retry_after,
            Duration::from_secs(10)
        );
    }

    #[test]
    fn streams_are_limited_per_user_and_globally() {
        let l = Limiter::new();
        let a1 = l.start_stream("alice", Some(2), 3).unwrap();
        let _a2 = l.start_stream("alice", Some(2), 3).unwrap();
        assert!(l.start_stream("alice", Some(2), 3).is_err());
        let _b = l.start_stream("bob", None, 3).unwrap();
        let err = l.start_stream("carol", None, 3).unwrap_err();
        assert!(err.reason.contains("3 concurrent"), "{}", err.reason);
        drop(a1);
        assert_eq!(l.streams(), 2);
        let _a3 = l.start_stream("alice", Some(2), 3).unwrap();
    }

    #[test]
    fn tracked_buckets_are_bounded() {
        let l = Limiter::new();
        let t0 = Instant::now();
        let r = rate(1.0, 1);
        for i in 0..MAX_TRACKED_BUCKETS {
            l.check_request(&format!("u{i}"), "r", &r, t0).unwrap();
        }
        // Every bucket is empty: a new caller cannot evict a limited one.
        assert!(l.check_request("new", "r", &r, t0).is_err());
        // After a refill the full buckets are dropped and the newcomer fits.
        l.check_request("new", "r", &r, t0 + Duration::from_secs(2))
            .unwrap();
        assert!(l.lock().buckets.len() <= 2);
    }
}
