//! A value read from a file and replaced atomically when the file changes: the policy and the
//! token file.
//!
//! Readers take an `Arc<T>` snapshot, so a reload never changes a value under a decision in
//! progress. A reload reads and checks the whole file first; an invalid file is rejected with
//! every problem and the old value stays in force (a typo never opens or closes the door).
//!
//! [`Watched::watch`] polls the file and reloads when its contents change (a content hash, so
//! an edit within the same mtime second is seen and a `touch` is not a reload). The binary
//! also reloads on SIGHUP ([`Watched::reload`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tracing::{info, warn};

/// How often a watched file is checked.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A value kept in a file.
pub trait FromFile: Sized + Send + Sync + 'static {
    /// What reading or checking the file fails with.
    type Error: std::fmt::Display;
    /// What the file is, for logs: `policy`, `token file`.
    const WHAT: &'static str;
    /// Reads the file's text (bounded).
    fn read(path: &Path) -> Result<String, Self::Error>;
    /// Parses and checks the whole text.
    fn parse(text: &str) -> Result<Self, Self::Error>;
    /// Every problem of a rejected file as (where, what), for one log line each.
    fn problems(error: &Self::Error) -> Vec<(String, String)>;
    /// How many entries the value holds (rules, tokens), for logs.
    fn entries(&self) -> usize;
}

/// What a reload did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The new value is in force.
    Replaced,
    /// The file did not change.
    Unchanged,
    /// There is no file (a fixed value is in force).
    NoFile,
}

/// The value in force, and the file behind it.
#[derive(Debug)]
pub struct Watched<T> {
    current: RwLock<Arc<T>>,
    path: Option<PathBuf>,
    seen: Mutex<Option<[u8; 32]>>,
}

impl<T: FromFile> Watched<T> {
    /// Holds `value`, with no file behind it.
    pub fn fixed(value: T) -> Watched<T> {
        Watched {
            current: RwLock::new(Arc::new(value)),
            path: None,
            seen: Mutex::new(None),
        }
    }

    /// Loads `path`; fails with every problem if it is invalid.
    pub fn from_file(path: &Path) -> Result<Watched<T>, T::Error> {
        let text = T::read(path)?;
        let value = T::parse(&text)?;
        Ok(Watched {
            current: RwLock::new(Arc::new(value)),
            path: Some(path.to_path_buf()),
            seen: Mutex::new(Some(digest(&text))),
        })
    }

    /// The value in force now.
    pub fn current(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The file behind the value, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Re-reads the file and, if valid, puts it in force. An invalid file is reported
    /// (every problem) and the old value stays.
    pub fn reload(&self) -> Result<Reloaded, T::Error> {
        self.reload_inner(true)
    }

    fn reload_inner(&self, force: bool) -> Result<Reloaded, T::Error> {
        let Some(path) = &self.path else {
            return Ok(Reloaded::NoFile);
        };
        let text = T::read(path)?;
        let d = digest(&text);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if !force && *seen == Some(d) {
                return Ok(Reloaded::Unchanged);
            }
            *seen = Some(d);
        }
        let value = T::parse(&text)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(value);
        Ok(Reloaded::Replaced)
    }

    /// Polls the file every `every` until the value is dropped, reloading on change.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Watched<T>> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(watched) = weak.upgrade() else {
                    return;
                };
                watched.log_reload(watched.reload_inner(false));
            }
        })
    }

    /// Logs the outcome of a reload the way the watcher and SIGHUP both report it.
    pub fn log_reload(&self, outcome: Result<Reloaded, T::Error>) {
        let path = self.path.as_deref().map(Path::display);
        match outcome {
            Ok(Reloaded::Replaced) => {
                let entries = self.current().entries();
                info!(path = ?path, entries, "{} reloaded", T::WHAT);
            }
            Ok(Reloaded::Unchanged | Reloaded::NoFile) => {}
            Err(e) => {
                for (at, problem) in T::problems(&e) {
                    warn!(path = ?path, at = %at, %problem, "{} rejected; the previous one stays in force", T::WHAT);
                }
            }
        }
    }
}

/// Reads a UTF-8 file of at most `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(text)
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of comma-separated numbers; anything else is invalid.
    #[derive(Debug)]
    struct Numbers(Vec<u32>);

    impl FromFile for Numbers {
        type Error = String;
        const WHAT: &'static str = "numbers";
        fn read(path: &Path) -> Result<String, String> {
            std::fs::read_to_string(path).map_err(|e| e.to_string())
        }
        fn parse(text: &str) -> Result<Numbers, String> {
            text.split(',')
                .map(|n| n.trim().parse().map_err(|_| format!("not a number: {n}")))
                .collect::<Result<_, _>>()
                .map(Numbers)
        }
        fn problems(error: &String) -> Vec<(String, String)> {
            vec![(String::new(), error.clone())]
        }
        fn entries(&self) -> usize {
            self.0.len()
        }
    }

    #[test]
    fn a_valid_change_replaces_an_invalid_one_keeps_the_old_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n");
        std::fs::write(&path, "1,2").unwrap();
        let w = Watched::<Numbers>::from_file(&path).unwrap();
        let before = w.current();
        assert_eq!(w.reload_inner(false), Ok(Reloaded::Unchanged));
        std::fs::write(&path, "1,x").unwrap();
        assert_eq!(w.reload_inner(false), Err("not a number: x".to_string()));
        assert_eq!(w.current().0, [1, 2]);
        std::fs::write(&path, "3").unwrap();
        assert_eq!(w.reload_inner(false), Ok(Reloaded::Replaced));
        assert_eq!(w.current().0, [3]);
        // A snapshot taken before the reload is unchanged.
        assert_eq!(before.0, [1, 2]);
        assert_eq!(w.reload(), Ok(Reloaded::Replaced));
        assert_eq!(
            Watched::fixed(Numbers(vec![])).reload(),
            Ok(Reloaded::NoFile)
        );
    }

    #[tokio::test]
    async fn the_watcher_sees_an_edit_and_stops_with_its_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n");
        std::fs::write(&path, "1").unwrap();
        let w = Arc::new(Watched::<Numbers>::from_file(&path).unwrap());
        let task = w.watch(Duration::from_millis(10));
        std::fs::write(&path, "1,2,3").unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while w.current().0.len() != 3 {
            assert!(tokio::time::Instant::now() < deadline, "edit not seen");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(w);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the watcher ends with its value")
            .unwrap();
    }
}
