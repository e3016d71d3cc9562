//! A file recording store that slows down or fails on command, through the real code paths:
//! latency with `object_store`'s own `ThrottledStore` wrapped around the file store (through
//! `RecordStore::from_object_store`, adjustable while sessions run), and failures by pulling
//! the directory out from under the file store (every write then fails with an I/O error,
//! as an unmounted volume or a revoked bucket would).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::local::LocalFileSystem;
use object_store::throttle::{ThrottleConfig, ThrottledStore};
use proxy_core::record::RecordStore;

/// A store over a directory, with its switches and a fault-free view of the same data.
#[derive(Debug)]
pub(crate) struct FaultyStore {
    /// The store to record to.
    pub(crate) store: RecordStore,
    /// The same directory without the throttle (to inspect, and for the restart).
    pub(crate) healthy: RecordStore,
    throttle: Arc<ThrottledStore<LocalFileSystem>>,
    root: PathBuf,
}

impl FaultyStore {
    /// A store over `root` (created if needed).
    pub(crate) fn new(root: &Path) -> FaultyStore {
        std::fs::create_dir_all(root).expect("store directory");
        let local = || LocalFileSystem::new_with_prefix(root).expect("local store");
        let throttle = Arc::new(ThrottledStore::new(local(), ThrottleConfig::default()));
        let url = format!("file://{}", root.display());
        FaultyStore {
            store: RecordStore::from_object_store(throttle.clone(), url.clone()),
            healthy: RecordStore::from_object_store(Arc::new(local()), url),
            throttle,
            root: root.to_path_buf(),
        }
    }

    /// Every later write waits `delay` first.
    pub(crate) fn delay(&self, delay: Duration) {
        self.throttle.config_mut(|c| c.wait_put_per_call = delay);
    }

    /// Makes every later write fail (the directory is moved away and a file put in its
    /// place), or puts the directory back.
    pub(crate) fn fail(&self, failing: bool) {
        let away = self.root.with_extension("away");
        if failing {
            std::fs::rename(&self.root, &away).expect("store moved away");
            std::fs::write(&self.root, b"not a directory").expect("store replaced");
        } else {
            std::fs::remove_file(&self.root).expect("placeholder removed");
            std::fs::rename(&away, &self.root).expect("store put back");
        }
    }

    /// Chunk objects stored so far, over all sessions.
    pub(crate) fn chunks(&self) -> usize {
        let Ok(sessions) = std::fs::read_dir(&self.root) else {
            return 0;
        };
        sessions
            .flatten()
            .filter_map(|s| std::fs::read_dir(s.path()).ok())
            .flat_map(|objects| objects.flatten())
            .filter(|o| o.file_name().to_string_lossy().ends_with(".chunk"))
            .count()
    }

    /// Waits until `n` chunks are stored (failing after `limit`).
    pub(crate) async fn wait_for_chunks(&self, n: usize, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.chunks() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} chunks stored in {limit:?}",
                self.chunks()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
