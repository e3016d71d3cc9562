//! Lists as compact, aligned text tables (what `kubectl get` prints, fewer columns).

use serde_json::Value;

/// A table of `list.items` for `plural`.
pub(crate) fn objects(plural: &str, list: &Value) -> String {
    let items = items(list);
    let rows: Vec<Vec<String>> = match plural {
        "pods" => items.iter().map(|p| pod_row(p)).collect(),
        "deployments" | "statefulsets" | "replicasets" => items
            .iter()
            .map(|o| {
                let s = &o["status"];
                vec![
                    name(o),
                    format!("{}/{}", num(&s["readyReplicas"]), num(&s["replicas"])),
                    str_of(&o["metadata"]["creationTimestamp"]),
                ]
            })
            .collect(),
        _ => items
            .iter()
            .map(|o| vec![name(o), str_of(&o["metadata"]["creationTimestamp"])])
            .collect(),
    };
    let header: &[&str] = match plural {
        "pods" => &["NAME", "READY", "STATUS", "RESTARTS"],
        "deployments" | "statefulsets" | "replicasets" => &["NAME", "READY", "CREATED"],
        _ => &["NAME", "CREATED"],
    };
    render(header, &rows, list)
}

/// A table of events, oldest first.
pub(crate) fn events(list: &Value) -> String {
    let mut items = items(list);
    items.sort_by_key(|e| last_seen(e));
    let rows: Vec<Vec<String>> = items.iter().map(|e| event_row(e)).collect();
    render(
        &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        &rows,
        list,
    )
}

/// One event as a row.
pub(crate) fn event_row(e: &Value) -> Vec<String> {
    let o = &e["involvedObject"];
    vec![
        last_seen(e),
        str_of(&e["type"]),
        str_of(&e["reason"]),
        format!(
            "{}/{}",
            str_of(&o["kind"]).to_ascii_lowercase(),
            str_of(&o["name"])
        ),
        str_of(&e["message"]),
    ]
}

/// When an event was last seen.
pub(crate) fn last_seen(e: &Value) -> String {
    ["lastTimestamp", "eventTime", "firstTimestamp"]
        .iter()
        .map(|k| str_of(&e[*k]))
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

fn pod_row(p: &Value) -> Vec<String> {
    let statuses = p["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ready = statuses
        .iter()
        .filter(|c| c["ready"].as_bool() == Some(true))
        .count();
    let restarts: u64 = statuses
        .iter()
        .filter_map(|c| c["restartCount"].as_u64())
        .sum();
    vec![
        name(p),
        format!("{ready}/{}", statuses.len()),
        str_of(&p["status"]["phase"]),
        restarts.to_string(),
    ]
}

/// A list's items.
pub(crate) fn items(list: &Value) -> Vec<&Value> {
    list["items"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn name(o: &Value) -> String {
    str_of(&o["metadata"]["name"])
}

/// A JSON string's text; empty for anything else.
pub(crate) fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Aligned columns; a note when the server has more (`metadata.continue`).
pub(crate) fn render(header: &[&str], rows: &[Vec<String>], list: &Value) -> String {
    if rows.is_empty() {
        return "No resources found.\n".into();
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if list["metadata"]["continue"]
        .as_str()
        .is_some_and(|c| !c.is_empty())
    {
        out.push_str("(more objects exist: raise limit or narrow the selector)\n");
    }
    out
}
