//! Write-once object storage for recordings, over `object_store`.
//!
//! Every write is `PutMode::Create`: an existing object is never replaced. The same bytes
//! written twice (a retried upload, crash recovery) are accepted; different bytes under an
//! existing name are a conflict. `file://` makes each object read-only after writing;
//! `s3://` adds Object Lock headers (`x-amz-object-lock-mode`,
//! `x-amz-object-lock-retain-until-date`) to every request when configured.
//!
//! # Retention that does not age
//!
//! `object_store` sets extra headers per client, not per request, so the retain-until date
//! is fixed when the client is built. A store that lives for weeks would otherwise write
//! objects retained for less than configured. The S3 client is therefore rebuilt once its
//! headers are [`LOCK_REFRESH`] old, and the date it carries is rounded up from
//! `built + retain + refresh`: every object written at time `w` (with `built ≤ w < built +
//! refresh`) is retained until at least `w + retain`, and at most `refresh` + 1 s longer.
//!
//! Layout: `<session id>/<seq, 10 digits>.chunk` and `<session id>/seal`; digests under
//! `digests/<instance>/`, audit segments under `audit/<instance>/<segment id>/`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

mod lock;
use lock::{BuildClient, LockedClient, s3_builder};

/// The largest object a reader fetches (a chunk is at most a 16 MiB payload, compressed).
pub const MAX_OBJECT_LEN: u64 = 32 << 20;
/// The name of a session's seal object.
pub const SEAL_NAME: &str = "seal";
/// The suffix of chunk objects.
pub const CHUNK_SUFFIX: &str = ".chunk";
/// How long an S3 client's Object Lock headers are used before the client is rebuilt with a
/// later retain-until date (objects are retained up to this much longer than configured).
pub const LOCK_REFRESH: Duration = Duration::from_secs(3600);

/// S3 Object Lock settings applied to every object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectLock {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: String,
    /// Retention of each object from the time it is written (at least; see the module docs).
    pub retain: Duration,
}

/// What a store operation failed with.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreErrorKind {
    Config,
    Conflict,
    NotFound,
    TooLarge,
    Io,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
        }
    }

    /// An I/O failure of the recorder's own making (encoding an object).
    pub(crate) fn io(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Io, message)
    }

    /// The URL or options are unusable.
    pub fn is_config(&self) -> bool {
        self.kind == StoreErrorKind::Config
    }

    /// Different bytes already exist under the name.
    pub fn is_conflict(&self) -> bool {
        self.kind == StoreErrorKind::Conflict
    }

    /// No such object.
    pub fn is_not_found(&self) -> bool {
        self.kind == StoreErrorKind::NotFound
    }

    /// The object is larger than [`MAX_OBJECT_LEN`].
    pub fn is_too_large(&self) -> bool {
        self.kind == StoreErrorKind::TooLarge
    }
}

fn io(what: &str, e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => {
            StoreError::new(StoreErrorKind::NotFound, format!("{what}: not found"))
        }
        e => StoreError::new(StoreErrorKind::Io, format!("{what}: {e}")),
    }
}

/// A recording store.
#[derive(Clone, Debug)]
pub struct RecordStore {
    inner: Arc<dyn ObjectStore>,
    /// For S3 with Object Lock: the client, rebuilt as its retention headers age.
    locked: Option<Arc<LockedClient>>,
    url: String,
    local_root: Option<PathBuf>,
}

/// The object the readiness probe writes and deletes ([`RecordStore::probe`]).
pub const PROBE_NAME: &str = "readyz.probe";

/// The name of chunk `seq` of `session`.
pub fn chunk_name(session: &str, seq: u64) -> String {
    format!("{session}/{seq:010}{CHUNK_SUFFIX}")
}

/// The name of `session`'s seal.
pub fn seal_name(session: &str) -> String {
    format!("{session}/{SEAL_NAME}")
}

impl RecordStore {
    /// Wraps any object store (tests use this for fault injection).
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, url: impl Into<String>) -> RecordStore {
        RecordStore {
            inner,
            locked: None,
            url: url.into(),
            local_root: None,
        }
    }

    /// Renews the Object Lock headers every `refresh` instead of every [`LOCK_REFRESH`]
    /// (no effect without Object Lock; shared by clones). Tests use a short interval.
    pub fn with_lock_refresh(self, refresh: Duration) -> Result<RecordStore, StoreError> {
        if let Some(locked) = &self.locked {
            locked.client_at(SystemTime::now(), Some(refresh))?;
        }
        Ok(self)
    }

    /// The client for the next request.
    fn client(&self) -> Result<Arc<dyn ObjectStore>, StoreError> {
        match &self.locked {
            Some(locked) => locked.client_at(SystemTime::now(), None),
            None => Ok(self.inner.clone()),
        }
    }

    /// Opens `url`: `file:///dir`, `memory://`, `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix`. `options` are the backend's configuration keys
    /// (`aws_endpoint`, `aws_region`, `aws_allow_http`, …); credentials otherwise come from
    /// the environment as usual for each cloud.
    pub fn open(
        url: &str,
        options: &[(String, String)],
        lock: Option<&ObjectLock>,
    ) -> Result<RecordStore, StoreError> {
        let cfg = |m: String| StoreError::new(StoreErrorKind::Config, m);
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            cfg(format!(
                "{url}: not a URL (file:///dir, s3://bucket/prefix, …)"
            ))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if lock.is_some() && scheme != "s3" {
            return Err(cfg(format!("{url}: object lock is an s3:// setting")));
        }
        if scheme != "s3" && scheme != "gs" && scheme != "az" && !options.is_empty() {
            return Err(cfg(format!(
                "{url}: store options apply to cloud stores only"
            )));
        }
        if matches!(scheme, "s3" | "gs" | "az") {
            use_ring_for_cloud_clients();
        }
        let inner: Arc<dyn ObjectStore> = match scheme {
            "file" => {
                if !rest.starts_with('/') {
                    return Err(cfg(format!("{url}: file:// needs an absolute path")));
                }
                std::fs::create_dir_all(rest).map_err(|e| cfg(format!("{rest}: {e}")))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(rest)
                    .map_err(|e| cfg(format!("{url}: {e}")))?;
                return Ok(RecordStore {
                    inner: Arc::new(fs),
                    locked: None,
                    url: url.to_string(),
                    local_root: Some(PathBuf::from(rest)),
                });
            }
            "memory" => Arc::new(object_store::memory::InMemory::new()),
            "s3" => {
                let Some(lock) = lock else {
                    let s3 = s3_builder(bucket, options, None)?;
                    let s3 = s3.build().map_err(|e| cfg(format!("{url}: {e}")))?;
                    return Ok(RecordStore::from_object_store(prefixed(s3, prefix), url));
                };
                let (bucket, prefix, options, u) = (
                    bucket.to_string(),
                    prefix.to_string(),
                    options.to_vec(),
                    url.to_string(),
                );
                let build: BuildClient = Box::new(move |headers| {
                    let b = s3_builder(&bucket, &options, Some(headers))?;
                    let s3 = b.build().map_err(|e| cfg(format!("{u}: {e}")))?;
                    Ok(prefixed(s3, &prefix))
                });
                let locked = LockedClient::new(lock.clone(), build)?;
                return Ok(RecordStore {
                    inner: locked.client_at(SystemTime::now(), None)?,
                    locked: Some(Arc::new(locked)),
                    url: url.to_string(),
                    local_root: None,
                });
            }
            "gs" => {
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket);
                for (k, v) in options {
                    b = b.with_config(k.parse().map_err(|e| cfg(format!("{k}: {e}")))?, v);
                }
                prefixed(b.build().map_err(|e| cfg(format!("{url}: {e}")))?, prefix)
            }
            "az" => {
                let mut b = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_container_name(bucket);
                for (k, v) in options {
                    b = b.with_config(k.parse().map_err(|e| cfg(format!("{k}: {e}")))?, v);
                }
                prefixed(b.build().map_err(|e| cfg(format!("{url}: {e}")))?, prefix)
            }
            other => return Err(cfg(format!("{url}: unsupported scheme {other}://"))),
        };
        Ok(RecordStore::from_object_store(inner, url))
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Writes `bytes` under `name` unless it exists; the same bytes already there are fine.
    pub async fn put_new(&self, name: &str, bytes: Bytes) -> Result<(), StoreError> {
        let path = ObjPath::from(name);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .client()?
            .put_opts(&path, PutPayload::from_bytes(bytes.clone()), opts)
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                let existing = self.get(name).await?;
                if existing != bytes {
                    return Err(StoreError::new(
                        StoreErrorKind::Conflict,
                        format!("{name}: exists with different content; not overwritten"),
                    ));
                }
            }
            Err(e) => return Err(io(name, e)),
        }
        if let Some(root) = &self.local_root {
            make_read_only(&root.join(name))
                .map_err(|e| StoreError::new(StoreErrorKind::Io, format!("{name}: {e}")))?;
        }
        Ok(())
    }

    /// Checks that the store takes writes (readiness): writes [`PROBE_NAME`], replacing
    /// any earlier probe, and deletes it. The probe is the only object ever replaced, and
    /// no session, digest or audit segment can have its name.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let path = ObjPath::from(PROBE_NAME);
        let client = self.client()?;
        client
            .put_opts(&path, PutPayload::from_static(b"ok"), PutOptions::default())
            .await
            .map_err(|e| io(PROBE_NAME, e))?;
        // A bucket whose Object Lock refuses the delete still took the write.
        let _ = client.delete(&path).await;
        Ok(())
    }

    /// Reads a whole object, refusing ones over [`MAX_OBJECT_LEN`].
    pub async fn get(&self, name: &str) -> Result<Bytes, StoreError> {
        self.get_bounded(name, MAX_OBJECT_LEN).await
    }

    /// Reads a whole object, refusing ones over `max` bytes.
    pub async fn get_bounded(&self, name: &str, max: u64) -> Result<Bytes, StoreError> {
        let res = self
            .client()?
            .get(&ObjPath::from(name))
            .await
            .map_err(|e| io(name, e))?;
        if res.meta.size > max {
            return Err(StoreError::new(
                StoreErrorKind::TooLarge,
                format!("{name}: {} bytes is over the limit", res.meta.size),
            ));
        }
        res.bytes().await.map_err(|e| io(name, e))
    }

    /// Session ids (top-level prefixes that are ULIDs), sorted (ULIDs sort by time).
    /// `digests/` and `audit/` are not sessions.
    pub async fn sessions(&self) -> Result<Vec<String>, StoreError> {
        let mut ids = self.folders(None).await?;
        ids.retain(|id| id.len() == 26 && ulid::Ulid::from_string(id).is_ok());
        Ok(ids)
    }

    /// The names of the folders directly under `prefix` (the top level with `None`), sorted.
    pub async fn folders(&self, prefix: Option<&str>) -> Result<Vec<String>, StoreError> {
        let at = prefix.map(ObjPath::from);
        let list = self
            .client()?
            .list_with_delimiter(at.as_ref())
            .await
            .map_err(|e| io(&format!("listing {}", prefix.unwrap_or("the store")), e))?;
        let mut names: Vec<String> = list
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The object names under `session/` (relative, e.g. `0000000000.chunk`), sorted.
    pub async fn objects(&self, session: &str) -> Result<Vec<String>, StoreError> {
        let prefix = ObjPath::from(session);
        let metas: Vec<_> = self
            .client()?
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| io(session, e))?;
        let mut names: Vec<String> = metas
            .iter()
            .filter_map(|m| {
                m.location
                    .as_ref()
                    .strip_prefix(prefix.as_ref())
                    .map(|r| r.trim_start_matches('/').to_string())
            })
            .collect();
        names.sort();
        Ok(names)
    }
}

/// Cloud stores talk HTTPS through reqwest built without a crypto provider (the workspace
/// uses ring only; see the root `Cargo.toml`), which takes rustls's process default and
/// panics when there is none. Installs ring as that default unless one is already set.
fn use_ring_for_cloud_clients() {
    // An error only means a default is already installed, which is what is needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn prefixed<T: ObjectStore>(store: T, prefix: &str) -> Arc<dyn ObjectStore> {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
    }
}

fn make_read_only(path: &std::path::Path) -> std::io::Result<()> {
    let mut perms = std::fs::metadata(path)?.permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(path, perms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_writes_once_and_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let store = RecordStore::open(&url, &[], None).unwrap();
        store
            .put_new("01ARZ3NDEKTSV4RRFFQ69G5FAV/seal", Bytes::from_static(b"a"))
            .await
            .unwrap();
        // The same bytes again: an idempotent retry.
        store
            .put_new("01ARZ3NDEKTSV4RRFFQ69G5FAV/seal", Bytes::from_static(b"a"))
            .await
            .unwrap();
        let err = store
            .put_new("01ARZ3NDEKTSV4RRFFQ69G5FAV/seal", Bytes::from_static(b"b"))
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{err}");
        assert_eq!(
            store.get("01ARZ3NDEKTSV4RRFFQ69G5FAV/seal").await.unwrap(),
            "a"
        );
        let meta = std::fs::metadata(dir.path().join("01ARZ3NDEKTSV4RRFFQ69G5FAV/seal")).unwrap();
        assert!(meta.permissions().readonly());
        // Folders that are not sessions are not listed as sessions.
        store
            .put_new("digests/kw/0000000000.digest", Bytes::from_static(b"d"))
            .await
            .unwrap();
        assert_eq!(
            store.sessions().await.unwrap(),
            ["01ARZ3NDEKTSV4RRFFQ69G5FAV"]
        );
        assert_eq!(
            store.objects("01ARZ3NDEKTSV4RRFFQ69G5FAV").await.unwrap(),
            ["seal"]
        );
        assert!(
            store
                .get("01ARZ3NDEKTSV4RRFFQ69G5FAV/none")
                .await
                .unwrap_err()
                .is_not_found()
        );
    }

    #[test]
    fn bad_urls_and_options_are_config_errors() {
        for url in ["nope", "ftp://x/y", "file://relative/path"] {
            assert!(
                RecordStore::open(url, &[], None).unwrap_err().is_config(),
                "{url}"
            );
        }
        let lock = ObjectLock {
            mode: "COMPLIANCE".into(),
            retain: Duration::from_secs(60),
        };
        assert!(
            RecordStore::open("memory://", &[], Some(&lock))
                .unwrap_err()
                .is_config()
        );
        let opts = [("no_such_key".to_string(), "v".to_string())];
        assert!(
            RecordStore::open("s3://b/p", &opts, None)
                .unwrap_err()
                .is_config()
        );
        let bad_lock = ObjectLock {
            mode: "LOOSE".into(),
            retain: Duration::from_secs(60),
        };
        assert!(
            RecordStore::open("s3://b/p", &[], Some(&bad_lock))
                .unwrap_err()
                .is_config()
        );
    }
}
