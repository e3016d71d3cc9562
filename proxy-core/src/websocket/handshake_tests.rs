use super::*;

const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn request(protocol_lines: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
    h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    h.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_static(RFC_KEY));
    for line in protocol_lines {
        h.append(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_str(line).unwrap());
    }
    h
}

/// A synthetic token, assembled at run time.
fn synthetic_token() -> String {
    ["synthetic", "bearer", "for", "tests"].join("-")
}

fn bearer_offer(token: &str) -> String {
    format!("{BEARER_PROTOCOL_PREFIX}{}", URL_SAFE_NO_PAD.encode(token))
}

const ALL: &[WsProtocol] = &WsProtocol::ALL;
const V5_ONLY: &[WsProtocol] = &[WsProtocol::V5];

#[test]
fn negotiation_table() {
    let cases: &[(&[&str], &[WsProtocol], Option<WsProtocol>)] = &[
        (&["v5.channel.k8s.io"], ALL, Some(WsProtocol::V5)),
        // The client's order wins, across lines and commas.
        (
            &["v4.channel.k8s.io, v5.channel.k8s.io"],
            ALL,
            Some(WsProtocol::V4),
        ),
        (
            &["v4.base64.channel.k8s.io", "v5.channel.k8s.io"],
            ALL,
            Some(WsProtocol::V4Base64),
        ),
        (
            &["x.example", "base64.channel.k8s.io"],
            ALL,
            Some(WsProtocol::V1Base64),
        ),
        (&[" ,channel.k8s.io ,"], ALL, Some(WsProtocol::V1)),
        (&["v4.channel.k8s.io"], V5_ONLY, None),
        (
            &["v4.channel.k8s.io", "v5.channel.k8s.io"],
            V5_ONLY,
            Some(WsProtocol::V5),
        ),
        // Names are case-sensitive, like the Go servers.
        (&["V5.channel.k8s.io"], ALL, None),
        // No offer → the unnamed protocol, if supported.
        (&[], ALL, Some(WsProtocol::Unnamed)),
        (&[], V5_ONLY, None),
        // An unknown offer never falls back to "".
        (&["v3.channel.k8s.io"], ALL, None),
    ];
    for (lines, supported, expected) in cases {
        let got = accept(&request(lines), supported);
        match (got, expected) {
            (Ok(hs), Some(p)) => assert_eq!(hs.protocol, *p, "{lines:?}"),
            (Err(e), None) => {
                assert!(e.is_no_common_protocol(), "{lines:?}: {e}");
                assert_eq!(e.status_code(), StatusCode::FORBIDDEN);
            }
            (got, expected) => panic!("{lines:?}: got {got:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn response_headers() {
    let hs = accept(&request(&["v5.channel.k8s.io"]), ALL).unwrap();
    let h = &hs.response_headers;
    assert_eq!(h[SEC_WEBSOCKET_ACCEPT], RFC_ACCEPT);
    assert_eq!(h[SEC_WEBSOCKET_PROTOCOL], "v5.channel.k8s.io");
    assert_eq!(h[UPGRADE], "websocket");
    assert_eq!(h[CONNECTION], "Upgrade");
    let hs = accept(&request(&[]), ALL).unwrap();
    assert!(!hs.response_headers.contains_key(SEC_WEBSOCKET_PROTOCOL));
}

#[test]
fn bearer_is_extracted_and_never_echoed() {
    let token = synthetic_token();
    let offer = bearer_offer(&token);
    for lines in [
        vec![offer.as_str(), "v5.channel.k8s.io"],
        vec!["v5.channel.k8s.io", offer.as_str()],
    ] {
        let joined = lines.join(",");
        for headers in [request(&lines), request(&[joined.as_str()])] {
            let hs = accept(&headers, ALL).unwrap();
            assert_eq!(hs.protocol, WsProtocol::V5);
            assert_eq!(hs.bearer_token.as_deref(), Some(token.as_str()));
            for (_, v) in &hs.response_headers {
                assert!(!v.to_str().unwrap().contains("bearer"));
            }
            assert!(!format!("{hs:?}").contains(&token));
        }
    }
}

#[test]
fn bearer_errors() {
    let token = synthetic_token();
    let offer = bearer_offer(&token);
    let padded = format!("{BEARER_PROTOCOL_PREFIX}{}", STANDARD.encode("ab"));
    let control = bearer_offer("a\nb");
    let empty = BEARER_PROTOCOL_PREFIX.to_owned();
    let cases: Vec<Vec<&str>> = vec![
        // Alone.
        vec![offer.as_str()],
        // Twice.
        vec![offer.as_str(), offer.as_str(), "v5.channel.k8s.io"],
        // Not base64url without padding.
        vec![padded.as_str(), "v5.channel.k8s.io"],
        // Not usable in a header.
        vec![control.as_str(), "v5.channel.k8s.io"],
        vec![empty.as_str(), "v5.channel.k8s.io"],
    ];
    for lines in cases {
        let err = accept(&request(&lines), ALL).unwrap_err();
        assert!(err.is_bad_bearer(), "{lines:?}");
        assert_eq!(err.status_code(), StatusCode::UNAUTHORIZED);
    }
    let huge = bearer_offer(&"x".repeat(MAX_BEARER_TOKEN_LEN + 1));
    assert!(
        accept(&request(&[huge.as_str(), "v5.channel.k8s.io"]), ALL)
            .unwrap_err()
            .is_bad_bearer()
    );
}

#[test]
fn malformed_requests_are_400() {
    let mut cases: Vec<(&str, HeaderMap)> = Vec::new();
    let mut h = request(&["v5.channel.k8s.io"]);
    h.remove(UPGRADE);
    cases.push(("no upgrade", h));
    let mut h = request(&["v5.channel.k8s.io"]);
    h.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
    cases.push(("no connection upgrade", h));
    let mut h = request(&["v5.channel.k8s.io"]);
    h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
    cases.push(("version 8", h));
    let mut h = request(&["v5.channel.k8s.io"]);
    h.remove(SEC_WEBSOCKET_KEY);
    cases.push(("no key", h));
    let mut h = request(&["v5.channel.k8s.io"]);
    h.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_static("c2hvcnQ="));
    cases.push(("short key", h));
    let mut h = request(&["v5.channel.k8s.io"]);
    h.append(SEC_WEBSOCKET_KEY, HeaderValue::from_static(RFC_KEY));
    cases.push(("two keys", h));
    let mut h = request(&[]);
    h.insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_bytes(b"v5.channel.k8s.io\xff").unwrap(),
    );
    cases.push(("non-ascii protocol", h));
    for (name, headers) in cases {
        let err = accept(&headers, ALL).unwrap_err();
        assert!(err.is_bad_request(), "{name}: {err}");
        assert_eq!(err.status_code(), StatusCode::BAD_REQUEST, "{name}");
    }
}

#[test]
fn upgrade_detection_is_case_insensitive() {
    let mut h = HeaderMap::new();
    h.insert(UPGRADE, HeaderValue::from_static("WebSocket"));
    h.insert(CONNECTION, HeaderValue::from_static("UPGRADE"));
    assert!(is_upgrade(&h));
    h.insert(UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    assert!(!is_upgrade(&h));
}

/// A server's 101 for a client request, built by [`accept`].
fn answer(request: &HeaderMap, supported: &[WsProtocol]) -> HeaderMap {
    accept(request, supported).unwrap().response_headers
}

#[test]
fn client_round_trip() {
    let mut req = HeaderMap::new();
    req.insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_str(&bearer_offer(&synthetic_token())).unwrap(),
    );
    req.insert(
        SEC_WEBSOCKET_EXTENSIONS,
        HeaderValue::from_static("permessage-deflate"),
    );
    let offer = [WsProtocol::V5, WsProtocol::V4];
    let key = add_request_headers(&mut req, &offer);
    assert_eq!(
        req[SEC_WEBSOCKET_PROTOCOL],
        "v5.channel.k8s.io, v4.channel.k8s.io"
    );
    assert!(!req.contains_key(SEC_WEBSOCKET_EXTENSIONS));
    assert_eq!(STANDARD.decode(&key).unwrap().len(), 16);
    let resp = answer(&req, &[WsProtocol::V4]);
    let chosen = verify_response(StatusCode::SWITCHING_PROTOCOLS, &resp, &key, &offer).unwrap();
    assert_eq!(chosen, WsProtocol::V4);
    // Keys are random.
    let mut other = HeaderMap::new();
    assert_ne!(add_request_headers(&mut other, &offer), key);
}

#[test]
fn client_rejects_bad_responses() {
    let offer = [WsProtocol::V5];
    let mut req = HeaderMap::new();
    let key = add_request_headers(&mut req, &offer);
    let good = answer(&req, &offer);
    let ok = StatusCode::SWITCHING_PROTOCOLS;

    let err = verify_response(StatusCode::FORBIDDEN, &good, &key, &offer).unwrap_err();
    assert_eq!(err.refused_status(), Some(StatusCode::FORBIDDEN));

    let mut wrong_accept = good.clone();
    wrong_accept.insert(SEC_WEBSOCKET_ACCEPT, HeaderValue::from_static(RFC_ACCEPT));
    let mut not_offered = good.clone();
    not_offered.insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("v4.channel.k8s.io"),
    );
    let mut none_chosen = good.clone();
    none_chosen.remove(SEC_WEBSOCKET_PROTOCOL);
    let mut extension = good.clone();
    extension.insert(
        SEC_WEBSOCKET_EXTENSIONS,
        HeaderValue::from_static("permessage-deflate"),
    );
    let mut no_upgrade = good.clone();
    no_upgrade.remove(UPGRADE);
    let mut two = good.clone();
    two.append(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("v5.channel.k8s.io"),
    );
    for (name, headers) in [
        ("wrong accept", wrong_accept),
        ("not offered", not_offered),
        ("none chosen", none_chosen),
        ("extension", extension),
        ("no upgrade", no_upgrade),
        ("two protocols", two),
    ] {
        let err = verify_response(ok, &headers, &key, &offer).unwrap_err();
        assert!(err.is_bad_response(), "{name}: {err}");
        assert_eq!(err.status_code(), StatusCode::BAD_GATEWAY);
    }
    assert_eq!(
        verify_response(ok, &good, &key, &offer).unwrap(),
        WsProtocol::V5
    );
}

#[test]
fn unnamed_offer_sends_no_protocol_header() {
    let mut req = HeaderMap::new();
    req.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("stale"));
    let offer = [WsProtocol::Unnamed];
    let key = add_request_headers(&mut req, &offer);
    assert!(!req.contains_key(SEC_WEBSOCKET_PROTOCOL));
    let resp = answer(&req, &WsProtocol::ALL);
    let chosen = verify_response(StatusCode::SWITCHING_PROTOCOLS, &resp, &key, &offer);
    assert_eq!(chosen.unwrap(), WsProtocol::Unnamed);
}
