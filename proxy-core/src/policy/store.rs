//! The policy in force, replaced atomically on reload.
//!
//! Readers take an `Arc<Policy>` snapshot per request, so a reload never changes the rules
//! under a decision in progress, and a running session keeps the limits it started with
//! (reload never drops live sessions). A reload parses and checks the whole file first;
//! an invalid file is rejected with every problem and the old policy stays in force.
//!
//! [`PolicyStore::watch`] polls the file every [`POLL_INTERVAL`] and reloads when its
//! contents change (a content hash, so an edit within the same mtime second is seen and a
//! `touch` is not a reload). The binary also reloads on SIGHUP ([`PolicyStore::reload`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::{Policy, PolicyError, read_bounded};

/// How often a watched policy file is checked.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What a reload did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The new policy is in force.
    Replaced,
    /// The file did not change.
    Unchanged,
    /// There is no file (the built-in policy is in force).
    NoFile,
}

/// The policy in force.
#[derive(Debug)]
pub struct PolicyStore {
    current: RwLock<Arc<Policy>>,
    path: Option<PathBuf>,
    seen: Mutex<Option<[u8; 32]>>,
}

impl PolicyStore {
    /// A store holding `policy`, with no file behind it.
    pub fn fixed(policy: Policy) -> PolicyStore {
        PolicyStore {
            current: RwLock::new(Arc::new(policy)),
            path: None,
            seen: Mutex::new(None),
        }
    }

    /// Loads `path`; fails with every problem if it is invalid.
    pub fn from_file(path: &Path) -> Result<PolicyStore, PolicyError> {
        let text = read(path)?;
        let policy = Policy::from_yaml(&text)?;
        Ok(PolicyStore {
            current: RwLock::new(Arc::new(policy)),
            path: Some(path.to_path_buf()),
            seen: Mutex::new(Some(digest(&text))),
        })
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<Policy> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The file behind the policy, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Re-reads the file and, if valid, puts it in force. An invalid file is reported
    /// (every problem) and the old policy stays.
    pub fn reload(&self) -> Result<Reloaded, PolicyError> {
        self.reload_inner(true)
    }

    fn reload_inner(&self, force: bool) -> Result<Reloaded, PolicyError> {
        let Some(path) = &self.path else {
            return Ok(Reloaded::NoFile);
        };
        let text = read(path)?;
        let d = digest(&text);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if !force && *seen == Some(d) {
                return Ok(Reloaded::Unchanged);
            }
            *seen = Some(d);
        }
        let policy = Policy::from_yaml(&text)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
        Ok(Reloaded::Replaced)
    }

    /// Polls the file every `every` until the store is dropped, reloading on change.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<PolicyStore> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(store) = weak.upgrade() else { return };
                store.log_reload(store.reload_inner(false));
            }
        })
    }

    /// Logs the outcome of a reload the way the watcher and SIGHUP both report it.
    pub fn log_reload(&self, outcome: Result<Reloaded, PolicyError>) {
        let path = self.path.as_deref().map(Path::display);
        match outcome {
            Ok(Reloaded::Replaced) => {
                let rules = self.current().rules().len();
                info!(path = ?path, rules, "policy reloaded");
            }
            Ok(Reloaded::Unchanged | Reloaded::NoFile) => {}
            Err(e) => {
                for (at, problem) in e.problems() {
                    warn!(path = ?path, at = %at, %problem, "policy rejected; the previous policy stays in force");
                }
            }
        }
    }
}

fn read(path: &Path) -> Result<String, PolicyError> {
    read_bounded(path).map_err(|e| PolicyError {
        problems: vec![(String::new(), format!("reading {}: {e}", path.display()))],
    })
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}
