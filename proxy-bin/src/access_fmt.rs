//! How `kubewitness access` shows access requests to people: the summary after `request`,
//! the details of `get`, the table of `list`, and the API server's answer to `execute`.

use std::fmt::Write;

use proxy_core::grants::{AccessRequest, Answer, State};

/// After `access request`: the id alone on the first line (for scripts), then a summary.
pub(crate) fn created(r: &AccessRequest) -> String {
    let mut out = format!("{}\n", r.id);
    summary(&mut out, r);
    out
}

/// `access get`: everything about one request.
pub(crate) fn details(r: &AccessRequest) -> String {
    let mut out = format!("id: {}\n", r.id);
    summary(&mut out, r);
    let _ = writeln!(
        out,
        "requester: {} ({})",
        r.requester,
        r.requester_groups.join(", ")
    );
    let _ = writeln!(out, "reason: {}", one_line(&r.reason));
    let _ = writeln!(out, "created: {}", r.created_at);
    for a in &r.approvals {
        let _ = writeln!(
            out,
            "approved by {} at {}: {}",
            a.user,
            a.at,
            one_line(&a.reason)
        );
    }
    if let Some(d) = &r.denial {
        let _ = writeln!(
            out,
            "denied by {} at {}: {}",
            d.user,
            d.at,
            one_line(&d.reason)
        );
    }
    if let Some(a) = &r.result {
        let _ = writeln!(out, "result: {}", answer(a));
    }
    out
}

/// After approve, deny or revoke: where the request stands now.
pub(crate) fn reviewed(r: &AccessRequest) -> String {
    let mut out = format!("{}: {}\n", r.id, r.state.as_str());
    summary(&mut out, r);
    out
}

fn summary(out: &mut String, r: &AccessRequest) {
    let _ = writeln!(out, "grant: {} ({})", r.grant, r.kind);
    let _ = writeln!(
        out,
        "state: {} ({} of {} approvals)",
        r.state.as_str(),
        r.approvals.len(),
        r.required_approvals
    );
    match (&r.expires_at, r.state) {
        (Some(at), _) => {
            let _ = writeln!(out, "expires: {at}");
        }
        (None, State::Pending) => {
            let _ = writeln!(
                out,
                "expires: {} after approval",
                humantime::format_duration(std::time::Duration::from_secs(r.ttl_seconds))
            );
        }
        (None, _) => {}
    }
    if let Some(d) = &r.description {
        let _ = writeln!(out, "action: {d}");
    }
    if let Some(d) = &r.digest {
        let _ = writeln!(out, "digest: {d}");
    }
    if let Some(a) = &r.dry_run {
        let _ = writeln!(out, "dry run: {}", answer(a));
    }
}

/// `access list`: one row a request.
pub(crate) fn table(items: &[AccessRequest]) -> String {
    let mut rows = vec![[
        "ID".to_string(),
        "GRANT".into(),
        "REQUESTER".into(),
        "STATE".into(),
        "EXPIRES".into(),
        "DESCRIPTION/REASON".into(),
    ]];
    for r in items {
        rows.push([
            r.id.clone(),
            r.grant.clone(),
            r.requester.clone(),
            r.state.as_str().into(),
            r.expires_at.clone().unwrap_or_else(|| "-".into()),
            r.description.clone().unwrap_or_else(|| one_line(&r.reason)),
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}   ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `access execute`: the API server's answer as it came (a JSON object pretty-printed).
pub(crate) fn executed(content_type: Option<&str>, body: &[u8]) -> String {
    let json = content_type.is_some_and(|c| c.starts_with("application/json"));
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if json => format!("{v:#}\n"),
        _ => {
            let mut s = String::from_utf8_lossy(body).into_owned();
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s
        }
    }
}

fn answer(a: &Answer) -> String {
    format!("{} {}", a.code, one_line(&a.message))
}

/// Text from others on one line, control characters shown as spaces, so a reason cannot
/// forge table rows or terminal escapes.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
