//! S3 Object Lock headers that do not age: the client is rebuilt before its retain-until
//! date would stop covering a write (see the parent module's docs).
//!
//! The headers go in as the client's default headers. object_store (0.14.2, verified in its
//! `aws/client.rs`: `S3Client::request` adds them to the request builder before signing, and
//! its test `assert_default_headers_signed`) includes them in the SigV4 signature, which S3
//! requires of every `x-amz-*` header.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use object_store::{HeaderMap, HeaderValue, ObjectStore};

use super::{LOCK_REFRESH, ObjectLock, StoreError, StoreErrorKind};

/// Builds a client whose every request carries the given headers.
pub(super) type BuildClient =
    Box<dyn Fn(HeaderMap) -> Result<Arc<dyn ObjectStore>, StoreError> + Send + Sync>;

/// An object store client with Object Lock headers that are renewed before they age.
pub(super) struct LockedClient {
    lock: ObjectLock,
    build: BuildClient,
    current: Mutex<Current>,
}

/// The client in use.
struct Current {
    /// When `client` was built; its headers cover writes until `built + refresh`.
    built: SystemTime,
    refresh: Duration,
    client: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for LockedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockedClient")
            .field("lock", &self.lock)
            .finish_non_exhaustive()
    }
}

impl LockedClient {
    /// Builds the first client (so configuration errors surface at once).
    pub(super) fn new(lock: ObjectLock, build: BuildClient) -> Result<LockedClient, StoreError> {
        let built = SystemTime::now();
        let client = build(lock_headers(&lock, built, LOCK_REFRESH)?)?;
        Ok(LockedClient {
            lock,
            build,
            current: Mutex::new(Current {
                built,
                refresh: LOCK_REFRESH,
                client,
            }),
        })
    }

    /// The client for a request at `now`: rebuilt when its headers are `refresh` old, when
    /// the clock went back, or when `refresh` (if given) changes the interval.
    pub(super) fn client_at(
        &self,
        now: SystemTime,
        refresh: Option<Duration>,
    ) -> Result<Arc<dyn ObjectStore>, StoreError> {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let refresh = refresh.unwrap_or(cur.refresh);
        let fresh =
            refresh == cur.refresh && now.duration_since(cur.built).is_ok_and(|age| age < refresh);
        if !fresh {
            let client = (self.build)(lock_headers(&self.lock, now, refresh)?)?;
            *cur = Current {
                built: now,
                refresh,
                client,
            };
        }
        Ok(cur.client.clone())
    }
}

/// An S3 builder for `bucket` with `options`; with `headers`, every request carries them and
/// uploads carry a SHA-256 checksum (S3 requires one with Object Lock). The headers go in
/// first: client options among `options` (`aws_allow_http`, timeouts, proxy) amend them
/// rather than being replaced by them.
pub(super) fn s3_builder(
    bucket: &str,
    options: &[(String, String)],
    headers: Option<HeaderMap>,
) -> Result<object_store::aws::AmazonS3Builder, StoreError> {
    let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(headers) = headers {
        b = b
            .with_client_options(object_store::ClientOptions::new().with_default_headers(headers))
            .with_checksum_algorithm(object_store::aws::Checksum::SHA256);
    }
    for (k, v) in options {
        let key = k
            .parse()
            .map_err(|e| StoreError::new(StoreErrorKind::Config, format!("{k}: {e}")))?;
        b = b.with_config(key, v);
    }
    Ok(b)
}

/// The retain-until date of a client built at `built` and used for `refresh`: rounded up to
/// a whole second from `built + retain + refresh`.
fn retain_until(lock: &ObjectLock, built: SystemTime, refresh: Duration) -> SystemTime {
    let t = built + lock.retain + refresh;
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() + u64::from(since.subsec_nanos() > 0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// `x-amz-object-lock-mode`, `x-amz-object-lock-retain-until-date` and
/// `x-amz-sdk-checksum-algorithm`.
pub(super) fn lock_headers(
    lock: &ObjectLock,
    built: SystemTime,
    refresh: Duration,
) -> Result<HeaderMap, StoreError> {
    let bad = |m: String| StoreError::new(StoreErrorKind::Config, m);
    if lock.mode != "GOVERNANCE" && lock.mode != "COMPLIANCE" {
        return Err(bad(format!(
            "object lock mode {}: GOVERNANCE or COMPLIANCE",
            lock.mode
        )));
    }
    let until = humantime::format_rfc3339_seconds(retain_until(lock, built, refresh)).to_string();
    let mut h = HeaderMap::new();
    h.insert(
        "x-amz-object-lock-mode",
        HeaderValue::from_str(&lock.mode).map_err(|e| bad(e.to_string()))?,
    );
    h.insert(
        "x-amz-object-lock-retain-until-date",
        HeaderValue::from_str(&until).map_err(|e| bad(e.to_string()))?,
    );
    // S3 requires `Content-MD5` or this header on uploads with a retention period; the
    // checksum itself (`x-amz-checksum-sha256`) comes from `with_checksum_algorithm`.
    h.insert(
        "x-amz-sdk-checksum-algorithm",
        HeaderValue::from_static("SHA256"),
    );
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn until_header(h: &HeaderMap) -> SystemTime {
        let v = h["x-amz-object-lock-retain-until-date"].to_str().unwrap();
        humantime::parse_rfc3339(v).unwrap()
    }

    #[test]
    fn retain_until_rounds_up_and_covers_the_refresh_interval() {
        let lock = ObjectLock {
            mode: "GOVERNANCE".into(),
            retain: Duration::from_secs(86_400),
        };
        let refresh = Duration::from_secs(60);
        for nanos in [0, 1, 999_999_999] {
            let built = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, nanos);
            let until = until_header(&lock_headers(&lock, built, refresh).unwrap());
            // The last write this client makes is just before built + refresh.
            assert!(until >= built + refresh + lock.retain, "{nanos}");
            assert!(until < built + refresh + lock.retain + Duration::from_secs(1));
        }
    }

    #[test]
    fn the_locked_client_is_rebuilt_before_its_retention_ages() {
        let lock = ObjectLock {
            mode: "COMPLIANCE".into(),
            retain: Duration::from_secs(30 * 86_400),
        };
        let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
        let log = seen.clone();
        let build: BuildClient = Box::new(move |h| {
            log.lock().unwrap().push(h);
            Ok(Arc::new(object_store::memory::InMemory::new()))
        });
        let locked = LockedClient::new(lock.clone(), build).unwrap();
        let t0 = locked.current.lock().unwrap().built;
        let refresh = Duration::from_secs(10);
        locked.client_at(t0, Some(refresh)).unwrap();
        assert_eq!(seen.lock().unwrap().len(), 2, "a new interval rebuilds");
        // Writes spread over weeks: each one's retention covers its own write time.
        let mut w = t0;
        for step in [0, 1, 9, 1, 10, 3_600, 14 * 86_400, 1] {
            w += Duration::from_secs(step);
            locked.client_at(w, None).unwrap();
            let until = until_header(seen.lock().unwrap().last().unwrap());
            assert!(until >= w + lock.retain, "a write at +{step}s");
        }
        let builds = seen.lock().unwrap().len();
        // Within the interval the client is reused; a clock that went back rebuilds.
        locked.client_at(w, None).unwrap();
        assert_eq!(seen.lock().unwrap().len(), builds);
        locked.client_at(w - Duration::from_secs(5), None).unwrap();
        assert_eq!(seen.lock().unwrap().len(), builds + 1);
    }
}
