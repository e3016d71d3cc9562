//! Reads (get, list, watch; `Table` responses included) redacted on the way back.
//!
//! An allowed read under a redacting rule is forwarded asking upstream for JSON only (the
//! caller's `Accept` keeps its JSON media ranges, such as `application/json;as=Table`, and
//! loses protobuf), and the response body streams through a
//! [`crate::redaction::json::JsonRedactor`]: structure untouched, string values masked
//! with their context, nothing buffered beyond one string. An answer that is not JSON is
//! refused (502), and a body that stops being JSON is cut off at that point: a read the
//! redactor cannot follow never reaches the client raw. Findings are logged with the rule,
//! the caller and the path (never the secret).

use std::collections::VecDeque;

use crate::server::RequestBody;
use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use redact::Redactor;
use tracing::info;

use super::respond::{self, BoxError, ResponseBody};
use super::{Conn, Proxy};
use crate::access::Grant;
use crate::auth::Identity;
use crate::policy::limiter::StreamPermit;
use crate::redaction::json::JsonRedactor;
use crate::request::RequestInfo;
use crate::upstream::Origin;

/// The redactor for `info`'s response, when it is a read the rule redacts.
pub(super) fn redactor(proxy: &Proxy, info: &RequestInfo, grant: &Grant) -> Option<Redactor> {
    let read = matches!(info.verb.as_str(), "get" | "list" | "watch") && info.resource().is_some();
    if !read || grant.limits.unredacted {
        return None;
    }
    proxy.redactor().cloned()
}

/// Keeps only the JSON media ranges of `Accept` (or asks for `application/json`).
pub(super) fn json_accept(headers: &mut HeaderMap) {
    let ranges: Vec<String> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|r| media_type(r) == "application/json")
        .map(String::from)
        .collect();
    let value = if ranges.is_empty() {
        "application/json".to_string()
    } else {
        ranges.join(",")
    };
    headers.remove(header::ACCEPT);
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(header::ACCEPT, v);
    } else {
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
}

/// The media type of a range or `Content-Type`, lower case, without parameters.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Forwards a read as `identity`, asking for JSON, and redacts the answer as it streams.
pub(super) async fn forward(
    req: Request<RequestBody>,
    identity: &Identity,
    proxy: &Proxy,
    conn: &Conn,
    redactor: Redactor,
    permit: Option<StreamPermit>,
) -> Response<ResponseBody> {
    let (mut parts, _) = req.into_parts();
    json_accept(&mut parts.headers);
    let origin = Origin::new(conn.remote.ip());
    let res = match proxy
        .upstream
        .forward(&parts, Bytes::new(), identity, &origin)
        .await
    {
        Ok(res) => res,
        Err(e) => return respond::upstream_failed(&e),
    };
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(media_type)
        .unwrap_or_default();
    if content_type != "application/json" {
        return respond::bad_gateway(format!(
            "kubewitness: upstream answered a read with `{content_type}`, which kubewitness cannot redact"
        ));
    }
    let (mut head, body) = res.into_parts();
    head.headers.remove(header::CONTENT_LENGTH);
    let state = Redacting {
        body,
        json: JsonRedactor::new(redactor),
        queue: VecDeque::new(),
        ended: false,
        who: format!("{} {}", identity.user, parts.uri.path()),
    };
    Response::from_parts(
        head,
        respond::holding(
            StreamBody::new(stream::unfold(state, next)).boxed_unsync(),
            permit,
        ),
    )
}

/// A response body on its way through the redactor.
struct Redacting {
    body: kube_client::client::Body,
    json: JsonRedactor,
    queue: VecDeque<Bytes>,
    ended: bool,
    who: String,
}

impl Redacting {
    fn log_findings(&mut self) {
        for f in self.json.take_findings() {
            info!(rule = %f.rule, read = %self.who, "secret masked in a read");
        }
    }
}

type Item = Result<Frame<Bytes>, BoxError>;

/// The next frame of the redacted body.
async fn next(mut st: Redacting) -> Option<(Item, Redacting)> {
    loop {
        if let Some(b) = st.queue.pop_front() {
            return Some((Ok(Frame::data(b)), st));
        }
        if st.ended {
            return None;
        }
        let result = match st.body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    let mut out = Vec::new();
                    let pushed = st.json.push(data, &mut out);
                    st.queue.extend(out);
                    pushed.map_err(|e| Box::new(e) as BoxError)
                }
                Err(_trailers) => Ok(()),
            },
            Some(Err(e)) => Err(Box::new(e) as BoxError),
            None => {
                st.ended = true;
                st.json.finish().map_err(|e| Box::new(e) as BoxError)
            }
        };
        st.log_findings();
        if let Err(e) = result {
            info!(read = %st.who, error = %e, "read cut off");
            st.queue.clear();
            st.ended = true;
            return Some((Err(e), st));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_keeps_json_ranges_and_drops_protobuf() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io, application/json",
            ),
        );
        json_accept(&mut h);
        assert_eq!(
            h[header::ACCEPT],
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.kubernetes.protobuf"),
        );
        json_accept(&mut h);
        assert_eq!(h[header::ACCEPT], "application/json");
        let mut h = HeaderMap::new();
        json_accept(&mut h);
        assert_eq!(h[header::ACCEPT], "application/json");
    }
}
