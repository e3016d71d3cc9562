//! Server-side printing: the `meta.k8s.io/v1` `Table` kubectl asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,…`, with the columns the real
//! server prints for pods and namespaces and `Name`/`Age` for everything else.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::clock::parse_rfc3339;
use super::store::age;

/// The `Content-Type` of a Table response.
pub(crate) const TABLE_CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// Whether an `Accept` header asks for a Table first.
pub(crate) fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table") && first.contains("g=meta.k8s.io"))
}

/// What each row carries, from the `includeObject` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parses `includeObject` (default `Metadata`); `Err` carries the 400 message.
    pub(crate) fn parse(value: Option<&str>) -> Result<IncludeObject, String> {
        match value {
            None | Some("Metadata") => Ok(IncludeObject::Metadata),
            Some("None") => Ok(IncludeObject::None),
            Some("Object") => Ok(IncludeObject::Object),
            Some(other) => Err(format!(
                "includeObject: Unsupported value: \"{other}\": supported values: \"None\", \"Metadata\", \"Object\""
            )),
        }
    }
}

fn column(name: &str, kind: &str, format: &str, priority: u8) -> Value {
    json!({"name": name, "type": kind, "format": format, "description": name, "priority": priority})
}

fn age_of(object: &Value, now: SystemTime) -> String {
    object["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(parse_rfc3339)
        .and_then(|t| now.duration_since(t).ok())
        .map_or_else(|| "<unknown>".to_owned(), age)
}

fn pod_cells(pod: &Value, age: String) -> Vec<Value> {
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ready = statuses.iter().filter(|s| s["ready"] == true).count();
    let restarts: u64 = statuses
        .iter()
        .filter_map(|s| s["restartCount"].as_u64())
        .sum();
    let phase = if pod["metadata"]["deletionTimestamp"].is_string() {
        "Terminating"
    } else {
        pod["status"]["phase"].as_str().unwrap_or("Unknown")
    };
    vec![
        pod["metadata"]["name"].clone(),
        json!(format!("{ready}/{}", statuses.len())),
        json!(phase),
        json!(restarts),
        json!(age),
        pod["status"]["podIP"].clone(),
        pod["spec"]["nodeName"].clone(),
        json!("<none>"),
        json!("<none>"),
    ]
}

/// The Table of `objects` of kind `kind`.
pub(crate) fn table(
    kind: &str,
    objects: &[&Value],
    include: IncludeObject,
    now: SystemTime,
) -> Value {
    let columns = match kind {
        "Pod" => vec![
            column("Name", "string", "name", 0),
            column("Ready", "string", "", 0),
            column("Status", "string", "", 0),
            column("Restarts", "integer", "", 0),
            column("Age", "string", "", 0),
            column("IP", "string", "", 1),
            column("Node", "string", "", 1),
            column("Nominated Node", "string", "", 1),
            column("Readiness Gates", "string", "", 1),
        ],
        "Namespace" => vec![
            column("Name", "string", "name", 0),
            column("Status", "string", "", 0),
            column("Age", "string", "", 0),
        ],
        _ => vec![
            column("Name", "string", "name", 0),
            column("Age", "string", "", 0),
        ],
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let age = age_of(o, now);
            let cells = match kind {
                "Pod" => pod_cells(o, age),
                "Namespace" => vec![
                    o["metadata"]["name"].clone(),
                    o["status"]["phase"].clone(),
                    json!(age),
                ],
                _ => vec![o["metadata"]["name"].clone(), json!(age)],
            };
            let mut row = json!({"cells": cells});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": o["metadata"],
                    });
                }
                IncludeObject::Object => row["object"] = (*o).clone(),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "2000"},
        "columnDefinitions": columns,
        "rows": rows,
    })
}
