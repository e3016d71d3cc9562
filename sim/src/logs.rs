//! `GET /api/v1/namespaces/{ns}/pods/{name}/log`: the container's fixture lines with the
//! `PodLogOptions` the API server validates, and `follow=true` as a stream that emits one
//! `follow_lines` entry per interval (one chunk per line, flushed) and then ends as if the
//! container had exited.
//!
//! Timestamps: fixture line `i` is dated `created + (i + 1)` seconds, followed lines are dated
//! when they are emitted; `sinceSeconds`/`sinceTime` filter on these dates.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Response, StatusCode};
use tokio::sync::mpsc;

use super::clock::{parse_rfc3339, rfc3339_nanos};
use super::config::{SimContainer, SimPod};
use super::respond::{self, Body, bad_request, flag, int, param};
use super::server::State;

/// The options of one log request (`PodLogOptions`), validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LogOptions {
    pub(crate) container: Option<String>,
    pub(crate) follow: bool,
    pub(crate) previous: bool,
    pub(crate) since: Option<SinceOption>,
    pub(crate) timestamps: bool,
    pub(crate) tail_lines: Option<usize>,
    pub(crate) limit_bytes: Option<u64>,
}

/// Where a log starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SinceOption {
    Seconds(u64),
    Time(SystemTime),
}

impl LogOptions {
    /// Parses and validates the query like `ValidatePodLogOptions`; `Err` is the 400 message.
    pub(crate) fn from_query(query: &str) -> Result<LogOptions, String> {
        let tail = int(query, "tailLines")?;
        let limit = int(query, "limitBytes")?;
        let since_seconds = int(query, "sinceSeconds")?;
        let since_time = param(query, "sinceTime");
        if tail.is_some_and(|t| t < 0) {
            return Err("tailLines: Invalid value: must be greater than or equal to 0".into());
        }
        if limit.is_some_and(|l| l < 1) {
            return Err("limitBytes: Invalid value: must be greater than 0".into());
        }
        if since_seconds.is_some_and(|s| s < 1) {
            return Err("sinceSeconds: Invalid value: must be greater than 0".into());
        }
        let since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                return Err("sinceSeconds: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified".into());
            }
            (Some(s), None) => Some(SinceOption::Seconds(s.unsigned_abs())),
            (None, Some(t)) => Some(SinceOption::Time(parse_rfc3339(&t).ok_or_else(|| {
                format!("sinceTime: Invalid value: \"{t}\": must be RFC 3339")
            })?)),
            (None, None) => None,
        };
        Ok(LogOptions {
            container: param(query, "container").filter(|c| !c.is_empty()),
            follow: flag(query, "follow"),
            previous: flag(query, "previous"),
            since,
            timestamps: flag(query, "timestamps"),
            tail_lines: tail.map(|t| usize::try_from(t).unwrap_or(usize::MAX)),
            limit_bytes: limit.map(i64::unsigned_abs),
        })
    }

    fn keeps(&self, at: SystemTime, now: SystemTime) -> bool {
        match self.since {
            None => true,
            Some(SinceOption::Seconds(s)) => now
                .checked_sub(Duration::from_secs(s))
                .is_none_or(|from| at >= from),
            Some(SinceOption::Time(from)) => at >= from,
        }
    }

    fn line(&self, text: &str, at: SystemTime) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 32);
        if self.timestamps {
            out.extend_from_slice(rfc3339_nanos(at).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(text.as_bytes());
        out.push(b'\n');
        out
    }
}

/// Picks the container the API server would: the named one, or the only one.
pub(crate) fn container<'p>(
    pod: &'p SimPod,
    name: Option<&str>,
) -> Result<&'p SimContainer, String> {
    match name {
        Some(name) => pod
            .containers
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| format!("container {name} is not valid for pod {}", pod.name)),
        None if pod.containers.len() == 1 => Ok(&pod.containers[0]),
        None => {
            let names: Vec<&str> = pod.containers.iter().map(|c| c.name.as_str()).collect();
            Err(format!(
                "a container name must be specified for pod {}, choose one of: [{}]",
                pod.name,
                names.join(" ")
            ))
        }
    }
}

/// Truncates output at `limitBytes`, like the kubelet's limit writer.
#[derive(Debug)]
struct Limit {
    left: Option<u64>,
}

impl Limit {
    /// Cuts `line` to what is left; `None` once the limit is spent.
    fn take(&mut self, mut line: Vec<u8>) -> Option<Vec<u8>> {
        match &mut self.left {
            None => Some(line),
            Some(0) => None,
            Some(left) => {
                let keep = usize::try_from(*left).unwrap_or(usize::MAX).min(line.len());
                line.truncate(keep);
                *left -= keep as u64;
                Some(line)
            }
        }
    }
}

/// Serves one log request for `pod`.
pub(crate) fn serve(state: &Arc<State>, pod: &SimPod, query: &str) -> Response<Body> {
    let opts = match LogOptions::from_query(query) {
        Ok(o) => o,
        Err(msg) => return bad_request(msg),
    };
    let c = match container(pod, opts.container.as_deref()) {
        Ok(c) => c,
        Err(msg) => return bad_request(msg),
    };
    if opts.previous {
        return bad_request(format!(
            "previous terminated container \"{}\" in pod \"{}\" not found",
            c.name, pod.name
        ));
    }
    let now = SystemTime::now();
    let kept: Vec<(usize, &String)> = c
        .log
        .iter()
        .enumerate()
        .filter(|(i, _)| opts.keeps(line_time(state, *i), now))
        .collect();
    let skip = opts.tail_lines.map_or(0, |t| kept.len().saturating_sub(t));
    let mut limit = Limit {
        left: opts.limit_bytes,
    };
    let mut head = Vec::new();
    for (i, text) in kept.into_iter().skip(skip) {
        match limit.take(opts.line(text, line_time(state, i))) {
            Some(bytes) => head.extend_from_slice(&bytes),
            None => break,
        }
    }
    if !opts.follow {
        return respond::with_type(StatusCode::OK, "text/plain", respond::full(head));
    }
    let (tx, rx) = mpsc::channel(proxy_core::peer::QUEUE_DEPTH);
    let lines = c.follow_lines.clone();
    let interval = state.cfg.follow_interval;
    let task = tokio::spawn(async move {
        if !head.is_empty() && tx.send(Bytes::from(head)).await.is_err() {
            return;
        }
        for text in lines {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = tx.closed() => return,
            }
            let Some(bytes) = limit.take(opts.line(&text, SystemTime::now())) else {
                return;
            };
            if tx.send(Bytes::from(bytes)).await.is_err() {
                return;
            }
        }
    });
    state.own(task.abort_handle());
    respond::with_type(StatusCode::OK, "text/plain", respond::streamed(rx))
}

fn line_time(state: &State, i: usize) -> SystemTime {
    state.created + Duration::from_secs(u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated_like_the_api_server() {
        let o = LogOptions::from_query(
            "container=api&follow=true&tailLines=2&timestamps=1&limitBytes=10",
        )
        .unwrap();
        assert_eq!(o.container.as_deref(), Some("api"));
        assert!(o.follow && o.timestamps && !o.previous);
        assert_eq!((o.tail_lines, o.limit_bytes), (Some(2), Some(10)));
        for bad in [
            "tailLines=-1",
            "limitBytes=0",
            "sinceSeconds=0",
            "tailLines=x",
            "sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z",
            "sinceTime=yesterday",
        ] {
            assert!(LogOptions::from_query(bad).is_err(), "{bad}");
        }
        let o = LogOptions::from_query("sinceTime=2024-01-01T00:00:00Z").unwrap();
        assert!(matches!(o.since, Some(SinceOption::Time(_))));
    }

    #[test]
    fn container_is_required_with_several() {
        let pod = super::super::config::SimConfig::default().pods[1].clone();
        assert_eq!(
            container(&pod, None).unwrap_err(),
            "a container name must be specified for pod api-7, choose one of: [api sidecar]"
        );
        assert_eq!(
            container(&pod, Some("nope")).unwrap_err(),
            "container nope is not valid for pod api-7"
        );
        assert_eq!(container(&pod, Some("sidecar")).unwrap().name, "sidecar");
    }

    #[test]
    fn limit_truncates_mid_line() {
        let mut l = Limit { left: Some(5) };
        assert_eq!(l.take(b"abc\n".to_vec()), Some(b"abc\n".to_vec()));
        assert_eq!(l.take(b"def\n".to_vec()), Some(b"d".to_vec()));
        assert_eq!(l.take(b"ghi\n".to_vec()), None);
    }
}
