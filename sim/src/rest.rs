//! Plain REST: GET/LIST (with selectors, Tables and watches) and TokenReview; the writes
//! are in [`super::writes`]. Every error is a `Status` with the API server's code and reason.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::discovery::Resource;
use super::respond::{self, Body, bad_request, flag, int, param};
use super::selector::{FieldSelector, Selector};
use super::server::State;
use super::table::{IncludeObject, TABLE_CONTENT_TYPE, table, wants_table};

/// The longest watch the server keeps open, whatever `timeoutSeconds` asks for.
pub(crate) const MAX_WATCH: Duration = Duration::from_secs(30 * 60);

/// The largest TokenReview body read.
pub(crate) const MAX_TOKEN_REVIEW_BODY: usize = 64 * 1024;

/// The parts of a request the REST handlers read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call<'a> {
    pub(crate) method: &'a Method,
    pub(crate) query: &'a str,
    pub(crate) accept: &'a str,
    /// `Content-Type`, empty when absent.
    pub(crate) content_type: &'a str,
    /// The request body (writes only; at most [`super::writes::MAX_WRITE_BODY`] bytes).
    pub(crate) body: &'a [u8],
}

/// `405 MethodNotAllowed`, as the API server words it.
pub(crate) fn not_allowed(call: &Call<'_>) -> Response<Body> {
    respond::status(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!(
            "the server does not allow this method on the requested resource ({})",
            call.method
        ),
    )
}

fn render(
    call: &Call<'_>,
    r: &Resource,
    objects: &[&Value],
    list: bool,
    now: SystemTime,
) -> Response<Body> {
    if wants_table(call.accept) {
        match IncludeObject::parse(param(call.query, "includeObject").as_deref()) {
            Ok(include) => {
                let t = table(r.kind, objects, include, now);
                let bytes = serde_json::to_vec(&t).unwrap_or_default();
                return respond::with_type(
                    StatusCode::OK,
                    TABLE_CONTENT_TYPE,
                    respond::full(bytes),
                );
            }
            Err(msg) => return bad_request(msg),
        }
    }
    if list {
        let items: Vec<Value> = objects
            .iter()
            .map(|o| {
                let mut o = (*o).clone();
                if let Some(m) = o.as_object_mut() {
                    m.remove("kind");
                    m.remove("apiVersion");
                }
                o
            })
            .collect();
        let body = json!({
            "kind": format!("{}List", r.kind),
            "apiVersion": r.api_version(),
            "metadata": {"resourceVersion": "2000"},
            "items": items,
        });
        respond::json(StatusCode::OK, &body)
    } else {
        respond::json(
            StatusCode::OK,
            objects.first().copied().unwrap_or(&Value::Null),
        )
    }
}

/// `GET` on a collection: a list, a Table, or a watch (`watch=true`).
pub(crate) fn collection(
    state: &Arc<State>,
    call: &Call<'_>,
    r: &Resource,
    namespace: Option<&str>,
) -> Response<Body> {
    if *call.method != Method::GET || !r.listable() {
        return not_allowed(call);
    }
    let labels = match Selector::parse(&param(call.query, "labelSelector").unwrap_or_default()) {
        Ok(s) => s,
        Err(msg) => return bad_request(format!("unable to parse requirement: {msg}")),
    };
    let fields = match FieldSelector::parse(&param(call.query, "fieldSelector").unwrap_or_default())
    {
        Ok(s) => s,
        Err(msg) => return bad_request(msg),
    };
    let shown: Vec<Value> = state
        .store
        .list(r, namespace)
        .iter()
        .filter(|o| labels.matches_object(o) && fields.matches_object(o))
        .map(|o| super::ephemeral::decorate(state, o))
        .collect();
    let objects: Vec<&Value> = shown.iter().collect();
    if flag(call.query, "watch") {
        return match int(call.query, "timeoutSeconds") {
            Ok(t) => watch(&objects, t),
            Err(msg) => bad_request(msg),
        };
    }
    render(call, r, &objects, true, SystemTime::now())
}

/// A watch of an unchanging store: one `ADDED` event per object, then nothing until the
/// timeout (or [`MAX_WATCH`]) or until the client goes away.
fn watch(objects: &[&Value], timeout_seconds: Option<i64>) -> Response<Body> {
    let timeout = timeout_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map_or(MAX_WATCH, |s| Duration::from_secs(s).min(MAX_WATCH));
    let events: Vec<Bytes> = objects
        .iter()
        .map(|o| {
            let mut line =
                serde_json::to_vec(&json!({"type": "ADDED", "object": o})).unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        })
        .collect();
    let (tx, rx) = mpsc::channel(proxy_core::peer::QUEUE_DEPTH);
    tokio::spawn(async move {
        for event in events {
            if tx.send(event).await.is_err() {
                return;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(timeout) => {}
            () = tx.closed() => {}
        }
    });
    respond::with_type(StatusCode::OK, "application/json", respond::streamed(rx))
}

/// `GET` on one object.
pub(crate) fn object(
    state: &Arc<State>,
    call: &Call<'_>,
    r: &Resource,
    namespace: Option<&str>,
    name: &str,
) -> Response<Body> {
    let Some(found) = state.store.get(r, namespace, name) else {
        return respond::not_found(r.name, name);
    };
    let shown = super::ephemeral::decorate(state, &found);
    render(call, r, &[&shown], false, SystemTime::now())
}

#[derive(Deserialize)]
struct TokenReviewRequest {
    spec: TokenReviewSpec,
}

#[derive(Deserialize)]
struct TokenReviewSpec {
    #[serde(default)]
    token: String,
    #[serde(default)]
    audiences: Vec<String>,
}

/// `POST /apis/authentication.k8s.io/v1/tokenreviews`.
pub(crate) fn token_review(state: &State, body: &[u8]) -> Response<Body> {
    let review: TokenReviewRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("invalid TokenReview: {e}")),
    };
    let known = state.cfg.token_reviews.iter().find(|(token, ..)| {
        super::server::same_secret(token.as_bytes(), review.spec.token.as_bytes())
    });
    let status = match known {
        Some((token, user, uid, groups)) => {
            let mut u = json!({"username": user, "groups": groups});
            if let Some(uid) = uid {
                u["uid"] = json!(uid);
            }
            if let Some(extra) = state.cfg.token_review_extra.get(token) {
                u["extra"] = json!(extra);
            }
            let audiences = state
                .cfg
                .token_review_audiences
                .as_ref()
                .unwrap_or(&review.spec.audiences);
            json!({"authenticated": true, "user": u, "audiences": audiences})
        }
        None => json!({"authenticated": false, "user": {}, "error": "invalid bearer token"}),
    };
    let body = json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": {"audiences": review.spec.audiences},
        "status": status,
    });
    respond::json(StatusCode::CREATED, &body)
}
