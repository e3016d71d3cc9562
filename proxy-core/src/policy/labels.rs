//! Namespace and pod labels for `namespaceSelector` / `podSelector`, read from the API
//! server with a short cache.
//!
//! Lookups use kubewitness's own credentials, not the caller's: a caller allowed to exec
//! into a pod often has no RBAC to read its namespace object, and the policy (not the
//! caller's RBAC) is what asks. Only `metadata.labels` is kept. Answers are cached for
//! [`LABEL_CACHE_TTL`], failures (no such object, upstream errors) too, so asking again
//! about a missing pod costs nothing upstream; a failed lookup makes the rules that need it
//! not apply (fail closed). Lookups run only after the caller has paid its rate limit
//! (`access.rs`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Facts, Labels, Lookup, Needs};
use crate::request::percent_encode;

/// How long looked-up labels are trusted.
pub const LABEL_CACHE_TTL: Duration = Duration::from_secs(5);
/// The most cached objects.
pub const LABEL_CACHE_MAX: usize = 4096;
/// The largest object read for its labels.
pub const MAX_OBJECT_BYTES: usize = 4 << 20;
/// How long a lookup may take.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// A cache of labels by object path.
#[derive(Debug, Default)]
pub struct LabelCache {
    entries: Mutex<HashMap<String, (Instant, Lookup)>>,
}

#[derive(Deserialize)]
struct Object {
    #[serde(default)]
    metadata: Metadata,
}

#[derive(Default, Deserialize)]
struct Metadata {
    #[serde(default)]
    labels: Labels,
}

impl LabelCache {
    /// Looks up what `needs` asks for.
    pub async fn facts(&self, client: &kube_client::Client, needs: &Needs) -> Facts {
        let mut facts = Facts::default();
        if let Some(ns) = &needs.namespace {
            let path = format!("/api/v1/namespaces/{}", percent_encode(ns));
            facts.namespace = self.lookup(client, path).await;
        }
        if let Some((ns, pod)) = &needs.pod {
            let path = format!(
                "/api/v1/namespaces/{}/pods/{}",
                percent_encode(ns),
                percent_encode(pod)
            );
            facts.pod = self.lookup(client, path).await;
        }
        facts
    }

    async fn lookup(&self, client: &kube_client::Client, path: String) -> Lookup {
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, found)) = entries.get(&path)
                && at.elapsed() < LABEL_CACHE_TTL
            {
                return found.clone();
            }
        }
        let found = match fetch(client, &path).await {
            Ok(labels) => Lookup::Found(labels),
            Err(why) => {
                tracing::warn!(%path, %why, "label lookup failed");
                Lookup::Failed(why)
            }
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= LABEL_CACHE_MAX {
            entries.retain(|_, (at, _)| at.elapsed() < LABEL_CACHE_TTL);
            if entries.len() >= LABEL_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(path, (Instant::now(), found.clone()));
        found
    }
}

async fn fetch(client: &kube_client::Client, path: &str) -> Result<Labels, String> {
    let req = http::Request::get(path)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let text = tokio::time::timeout(LOOKUP_TIMEOUT, client.request_text(req))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| match e {
            kube_client::Error::Api(s) => format!("{} {}", s.code, s.reason),
            other => other.to_string(),
        })?;
    if text.len() > MAX_OBJECT_BYTES {
        return Err("object too large".into());
    }
    let obj: Object = serde_json::from_str(&text).map_err(|e| format!("unreadable object: {e}"))?;
    Ok(obj.metadata.labels)
}
