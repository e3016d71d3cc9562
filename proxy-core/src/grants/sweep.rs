//! Background work: the elevations in force (cached, refreshed from the store at most every
//! [`REFRESH`] so approvals on other replicas are seen), and the sweeper that notices
//! requests whose time ran out, marks them `expired` (create-only: one replica notifies)
//! and notifies.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::object::Step;
use super::state::{Story, ms};
use super::{ActiveElevation, GrantError, Grants, State};
use crate::auth::Identity;

/// How stale the elevations may be.
pub(super) const REFRESH: Duration = Duration::from_secs(2);
/// How often the sweeper looks for expired requests.
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(15);
/// How far back elevations and expiries are looked for: a request waits at most 12 h for
/// approval and an elevation lasts at most 12 h.
const WINDOW: Duration = Duration::from_secs(24 * 3600 + 600);

/// Every elevation in force, with its requester.
type InForce = Arc<Vec<(String, ActiveElevation)>>;

/// The elevations in force and when they were read.
#[derive(Debug, Default)]
pub(super) struct Cache {
    read: Mutex<Option<(Instant, InForce)>>,
    refresh: tokio::sync::Mutex<()>,
}

impl Grants {
    pub(super) async fn do_elevations(&self, who: &Identity) -> Vec<ActiveElevation> {
        let all = self.all_elevations().await;
        let now = SystemTime::now();
        all.iter()
            .filter(|(user, e)| *user == who.user && e.expires_at > now)
            .map(|(_, e)| e.clone())
            .collect()
    }

    async fn all_elevations(&self) -> InForce {
        if let Some(fresh) = self.cached() {
            return fresh;
        }
        let _one = self.cache.refresh.lock().await;
        if let Some(fresh) = self.cached() {
            return fresh;
        }
        let list = match self.recent(Some(WINDOW)).await {
            Ok(stories) => Arc::new(active(&stories)),
            Err(e) => {
                // Fail closed: no elevation while the store cannot be read.
                tracing::warn!(error = %e, "elevations not readable; none in force");
                Arc::new(Vec::new())
            }
        };
        let mut read = self.cache.read.lock().unwrap_or_else(|e| e.into_inner());
        *read = Some((Instant::now(), list.clone()));
        list
    }

    fn cached(&self) -> Option<InForce> {
        let read = self.cache.read.lock().unwrap_or_else(|e| e.into_inner());
        read.as_ref()
            .filter(|(at, _)| at.elapsed() < REFRESH)
            .map(|(_, l)| l.clone())
    }

    /// Forgets the cached elevations (after a step that changes them).
    pub(super) fn invalidate(&self) {
        *self.cache.read.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Marks and notifies requests whose time ran out; returns how many it marked.
    pub(super) async fn sweep(&self) -> Result<usize, GrantError> {
        let now = ms(SystemTime::now());
        let mut marked = 0;
        for story in self.recent(Some(WINDOW)).await? {
            if story.expired.is_some() || story.state(now) != State::Expired {
                continue;
            }
            let id = story.request.body.id.clone();
            let system = ("kubewitness", &[][..]);
            match self
                .put_step(&id, Step::Expired, system, "ttl", Some(&story), |_| {})
                .await
            {
                Ok(()) => {
                    marked += 1;
                    self.notify("expired", story.view(now));
                }
                Err(GrantError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(marked)
    }

    pub(super) fn spawn_sweeper(self: &Arc<Grants>) {
        let weak: Weak<Grants> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                let Some(g) = weak.upgrade() else { return };
                if let Err(e) = g.sweep().await {
                    tracing::warn!(error = %e, "the access-request sweep failed");
                }
            }
        });
    }
}

/// The approved, unexpired elevations among `stories`.
pub(super) fn active(stories: &[Story]) -> Vec<(String, ActiveElevation)> {
    let now = ms(SystemTime::now());
    stories
        .iter()
        .filter(|s| s.details().kind == "elevation" && s.state(now) == State::Approved)
        .filter_map(|s| {
            let end = s.expires_at_ms()?;
            Some((
                s.requester().to_string(),
                ActiveElevation {
                    id: s.request.body.id.clone(),
                    grant: s.details().grant.clone(),
                    expires_at: UNIX_EPOCH + Duration::from_millis(end),
                },
            ))
        })
        .collect()
}
