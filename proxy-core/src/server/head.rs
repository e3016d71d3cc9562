//! Request head limits answered with a Kubernetes `Status` (414, 431), before anything else
//! looks at the request (see `limits.rs` for the bounds and what hyper refuses itself).

use http::{Request, Response, StatusCode};

use super::ListenerLimits;
use super::respond;
use crate::bodies::ResponseBody;

/// The answer when the head of `req` is over a limit.
pub(super) fn check<B>(
    req: &Request<B>,
    limits: &ListenerLimits,
) -> Option<Response<ResponseBody>> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    let line = req.method().as_str().len() + 1 + target;
    if line > limits.max_request_line_bytes {
        return Some(respond::status(
            StatusCode::URI_TOO_LONG,
            "RequestURITooLong",
            format!(
                "kubewitness: the request line is {line} bytes; at most {} are accepted",
                limits.max_request_line_bytes
            ),
        ));
    }
    let headers = req.headers();
    if headers.len() > limits.max_header_count {
        return Some(too_large(format!(
            "{} header fields; at most {} are accepted",
            headers.len(),
            limits.max_header_count
        )));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if bytes > limits.max_header_bytes {
        return Some(too_large(format!(
            "{bytes} bytes of header fields; at most {} are accepted",
            limits.max_header_bytes
        )));
    }
    None
}

fn too_large(what: String) -> Response<ResponseBody> {
    respond::status(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "RequestHeaderFieldsTooLarge",
        format!("kubewitness: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(req: Request<()>) -> Option<(u16, serde_json::Value)> {
        let res = check(&req, &ListenerLimits::default())?;
        let code = res.status().as_u16();
        let body = futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(
            res.into_body(),
        ))
        .expect("a full body")
        .expect("no error")
        .to_bytes();
        Some((code, serde_json::from_slice(&body).expect("a Status")))
    }

    #[test]
    fn over_limit_heads_get_a_status() {
        let ok = Request::get("/api/v1/pods?labelSelector=app%3Dweb")
            .body(())
            .unwrap();
        assert!(answer(ok).is_none());

        let long = format!("/api/v1/pods?labelSelector={}", "a".repeat(17 * 1024));
        let (code, status) = answer(Request::get(long).body(()).unwrap()).unwrap();
        assert_eq!(code, 414);
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "RequestURITooLong");

        let mut many = Request::get("/api").body(()).unwrap();
        for i in 0..101 {
            let name = http::HeaderName::try_from(format!("x-h{i}")).unwrap();
            many.headers_mut()
                .insert(name, http::HeaderValue::from_static("v"));
        }
        let (code, status) = answer(many).unwrap();
        assert_eq!((code, status["code"].as_u64()), (431, Some(431)));

        let mut big = Request::get("/api").body(()).unwrap();
        let value = http::HeaderValue::try_from("v".repeat(33 * 1024)).unwrap();
        big.headers_mut().insert("x-big", value);
        let (code, status) = answer(big).unwrap();
        assert_eq!(code, 431);
        assert_eq!(status["reason"], "RequestHeaderFieldsTooLarge");
    }
}
