//! The audit log: one JSON line per decision.
//!
//! Fields: `time` (RFC 3339, UTC), `user`, `groups`, `verb`, `resource`, `namespace`, `pod`,
//! `container`, `argv`, `decision` (`allow`/`deny`), `rule`, `reason`. A line never holds a
//! credential: only the authenticated identity is written, never headers or tokens. The
//! sink is stdout unless `audit.path` names a file (opened for append, created `0600`).
//! Lines are written whole under a lock, so concurrent decisions never interleave. With
//! recording, each line is also handed, in the same order, to an [`AuditTee`] (the
//! recorder's ledger, which stores them in hash-chained audit segments).

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::request::{RequestInfo, Target};

/// One audit line.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// When, RFC 3339 UTC.
    pub time: String,
    /// The caller.
    pub user: String,
    /// The caller's groups.
    pub groups: Vec<String>,
    /// The Kubernetes verb (or the HTTP method, lower case, for refused requests).
    pub verb: String,
    /// `resource[.group][/subresource]`, or the path for non-resource requests.
    pub resource: String,
    /// The namespace.
    pub namespace: Option<String>,
    /// The pod (pods and their subresources).
    pub pod: Option<String>,
    /// The container (exec, attach, logs).
    pub container: Option<String>,
    /// The argv (exec).
    pub argv: Option<Vec<String>>,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The rule that decided (or came closest).
    pub rule: Option<String>,
    /// Why.
    pub reason: String,
}

impl AuditRecord {
    /// A record for `info`, stamped now.
    pub fn new(user: &str, groups: &[String], info: &RequestInfo) -> AuditRecord {
        let (resource, namespace, pod) = match &info.target {
            Target::NonResource(path) => (path.clone(), None, None),
            Target::Resource(r) => {
                let mut what = r.resource.clone();
                if !r.group.is_empty() {
                    what = format!("{what}.{}", r.group);
                }
                if let Some(s) = &r.subresource {
                    what = format!("{what}/{s}");
                }
                let pod = (r.group.is_empty() && r.resource == "pods")
                    .then(|| r.name.clone())
                    .flatten();
                (what, r.namespace.clone(), pod)
            }
        };
        AuditRecord {
            time: rfc3339(SystemTime::now()),
            user: user.to_string(),
            groups: groups.to_vec(),
            verb: info.verb.clone(),
            resource,
            namespace,
            pod,
            ..AuditRecord::default()
        }
    }

    /// Sets the decision.
    pub fn decided(mut self, allowed: bool, rule: Option<String>, reason: String) -> AuditRecord {
        self.decision = if allowed { "allow" } else { "deny" };
        self.rule = rule;
        self.reason = reason;
        self
    }
}

/// Receives every audit line too, in order (the line ends in `\n`).
pub trait AuditTee: Send + Sync + std::fmt::Debug {
    /// One line, called under the sink's lock.
    fn line(&self, line: &[u8]);
}

/// Where audit lines go.
pub struct AuditSink {
    out: Mutex<Box<dyn Write + Send>>,
    tee: std::sync::OnceLock<std::sync::Arc<dyn AuditTee>>,
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSink").finish_non_exhaustive()
    }
}

impl AuditSink {
    /// Lines to stdout.
    pub fn stdout() -> AuditSink {
        AuditSink::writer(Box::new(std::io::stdout()))
    }

    /// Lines appended to `path` (created with mode 0600).
    pub fn file(path: &Path) -> std::io::Result<AuditSink> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        Ok(AuditSink::writer(Box::new(f)))
    }

    /// Lines to any writer.
    pub fn writer(w: Box<dyn Write + Send>) -> AuditSink {
        AuditSink {
            out: Mutex::new(w),
            tee: std::sync::OnceLock::new(),
        }
    }

    /// A sink whose lines go to `target` (its writer and its tee): for a part that owns
    /// its sink but must write to the one the proxy already has (the access-request broker).
    pub fn sharing(target: std::sync::Arc<AuditSink>) -> AuditSink {
        AuditSink::writer(Box::new(Forward {
            target,
            pending: Vec::new(),
        }))
    }

    /// Also hands every line to `tee` (set once; later calls are ignored).
    pub fn tee(&self, tee: std::sync::Arc<dyn AuditTee>) {
        let _ = self.tee.set(tee);
    }

    /// Writes one line. A write failure is logged, never fatal to the request.
    pub fn record(&self, rec: &AuditRecord) {
        self.line(rec)
    }

    /// Writes any serialisable record as one line (the Prometheus gateway's have other
    /// fields).
    pub fn line<T: Serialize>(&self, rec: &T) {
        let mut line = match serde_json::to_vec(rec) {
            Ok(l) => l,
            Err(e) => return tracing::error!(error = %e, "audit record not serialisable"),
        };
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tee) = self.tee.get() {
            tee.line(&line);
        }
        if let Err(e) = out.write_all(&line).and_then(|_| out.flush()) {
            tracing::error!(error = %e, "audit write failed");
        }
    }
}

/// The writer of [`AuditSink::sharing`]: each whole line is handed to the target sink.
struct Forward {
    target: std::sync::Arc<AuditSink>,
    pending: Vec<u8>,
}

impl Write for Forward {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            match serde_json::from_slice::<serde_json::Value>(&line) {
                Ok(value) => self.target.line(&value),
                Err(e) => tracing::error!(error = %e, "audit line not JSON"),
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Formats `t` as `2024-05-02T09:14:07.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use http::Method;

    use super::*;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_714_641_247_123);
        assert_eq!(rfc3339(t), "2024-05-02T09:14:07.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_sharing_sink_writes_to_its_target() {
        let buf = Shared::default();
        let target = Arc::new(AuditSink::writer(Box::new(buf.clone())));
        let shared = AuditSink::sharing(target.clone());
        shared.line(&serde_json::json!({"verb": "approve", "user": "ann"}));
        target.line(&serde_json::json!({"verb": "get"}));
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["verb"], "approve");
        assert_eq!(first["user"], "ann");
    }

    #[test]
    fn one_json_line_per_record_with_every_field() {
        let buf = Shared::default();
        let sink = AuditSink::writer(Box::new(buf.clone()));
        let info = RequestInfo::classify(
            &Method::POST,
            "/api/v1/namespaces/shop/pods/api-7/exec",
            "command=ls",
        )
        .unwrap();
        let mut rec = AuditRecord::new("alice", &["sre".into()], &info).decided(
            false,
            Some("ai".into()),
            "no rule allows this command".into(),
        );
        rec.argv = Some(vec!["ls".into()]);
        rec.container = Some("api".into());
        sink.record(&rec);
        sink.record(&rec);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        for key in [
            "time",
            "user",
            "groups",
            "verb",
            "resource",
            "namespace",
            "pod",
            "container",
            "argv",
            "decision",
            "rule",
            "reason",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
        assert_eq!(v["resource"], "pods/exec");
        assert_eq!(v["pod"], "api-7");
        assert_eq!(v["decision"], "deny");
        assert_eq!(v["verb"], "create");
    }
}
