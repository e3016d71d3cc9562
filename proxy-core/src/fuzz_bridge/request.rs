//! Request classification and exec/attach parameters.

use http::Method;

use super::input::Input;
use crate::request::{MAX_QUERY_LEN, RequestInfo, StreamRequest};

const METHODS: [Method; 8] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
    Method::CONNECT,
];

/// `RequestInfo::classify` and `StreamRequest::parse` on arbitrary method, path and query:
/// no panic; a parsed exec/attach request rebuilt as its upstream path and query classifies
/// and parses back to the same request.
///
/// The first byte picks the method and whether the path is taken verbatim or built as
/// `/api/v1/namespaces/NS/pods/POD/{exec,attach}` from two input pieces.
pub fn request_classifier(data: &[u8]) {
    round_trip(data);
}

/// How far [`request_classifier`] got with one input.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Not classified, or not an exec/attach request: nothing to round-trip.
    Refused,
    /// Percent-encoding grew the upstream query past what kubewitness reads back.
    TooLong,
    /// The upstream request parsed back to the same request.
    RoundTripped,
}

fn round_trip(data: &[u8]) -> Outcome {
    let mut input = Input::new(data);
    let choice = input.byte();
    let method = &METHODS[usize::from(choice) % METHODS.len()];
    let (path, query) = if choice & 0x80 == 0 {
        let text = String::from_utf8_lossy(input.rest()).into_owned();
        match text.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (text, String::new()),
        }
    } else {
        let ns = String::from_utf8_lossy(input.short()).into_owned();
        let pod = String::from_utf8_lossy(input.short()).into_owned();
        let sub = if choice & 0x40 == 0 { "exec" } else { "attach" };
        let query = String::from_utf8_lossy(input.rest()).into_owned();
        (format!("/api/v1/namespaces/{ns}/pods/{pod}/{sub}"), query)
    };
    let Ok(info) = RequestInfo::classify(method, &path, &query) else {
        return Outcome::Refused;
    };
    let Ok(request) = StreamRequest::parse(&info, &query) else {
        return Outcome::Refused;
    };
    let (path2, query2) = (request.upstream_path(), request.upstream_query());
    assert!(!query2.contains(';'), "upstream query {query2:?}");
    if query2.len() > MAX_QUERY_LEN {
        // Percent-encoding grew the query past what kubewitness reads back; the API server
        // has no such limit, and nothing is re-read from it.
        return Outcome::TooLong;
    }
    let info2 = RequestInfo::classify(method, &path2, &query2)
        .unwrap_or_else(|e| panic!("upstream {path2}?{query2} unclassifiable: {e}"));
    assert_eq!(info2.verb, info.verb, "{path2}?{query2}");
    let again = StreamRequest::parse(&info2, &query2)
        .unwrap_or_else(|e| panic!("upstream {path2}?{query2} does not parse: {e}"));
    assert_eq!(again, request, "{path2}?{query2}");
    Outcome::RoundTripped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_hold_the_round_trip() {
        // The exec/attach seeds must get as far as the round trip, not stop at a refusal.
        for seed in [
            &b"\x01/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&command=echo%20hi%3B&stdin=true&stdout=true&tty=true&container=app"[..],
            b"\x00/api/v1/namespaces/default/pods/web-0/attach?stdin=1&stdout=1&stderr=1",
            b"\x80\x02ns\x03podcommand=ls+-l&stdout=true&stderr=true",
        ] {
            let outcome = round_trip(seed);
            assert_eq!(outcome, Outcome::RoundTripped, "{}", seed.escape_ascii());
        }
        // Not a stream request: classified, then refused.
        let outcome = round_trip(b"\x00/apis/apps/v1/namespaces/default/deployments/web");
        assert_eq!(outcome, Outcome::Refused);
    }
}
