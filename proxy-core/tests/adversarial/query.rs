//! Hostile exec requests: invalid UTF-8 and NUL bytes in argv, bad escapes, 100k `command`
//! parameters, a 1 MiB query. Each gets a clear HTTP error and nothing reaches upstream.

use crate::support::*;

/// A request refused before any upgrade, and what the refusal must say.
struct Case {
    name: &'static str,
    query: fn() -> String,
    /// The HTTP status; 400 ones carry a Kubernetes `Status` whose message holds `says`.
    status: &'static [u16],
    says: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "invalid UTF-8 in argv",
        query: || "command=%FF%FE&stdout=1".into(),
        status: &[400],
        says: "not valid UTF-8",
    },
    Case {
        name: "invalid UTF-8 in the second argument",
        query: || "command=echo&command=ok%C3%28&stdout=1".into(),
        status: &[400],
        says: "not valid UTF-8",
    },
    Case {
        name: "NUL byte in argv",
        query: || "command=echo&command=a%00b&stdout=1".into(),
        status: &[400],
        says: "NUL byte",
    },
    Case {
        name: "NUL byte in a parameter name",
        query: || "command=echo&std%00out=1".into(),
        status: &[400],
        says: "NUL byte",
    },
    Case {
        name: "a broken percent-escape",
        query: || "command=%ZZ&stdout=1".into(),
        status: &[400],
        says: "invalid percent-escape",
    },
    Case {
        name: "a `;` separator",
        query: || "command=echo;command=rm&stdout=1".into(),
        status: &[400],
        says: "`;`",
    },
    // hyper refuses these before kubewitness sees the request (its request-line limits are
    // below MAX_QUERY_LEN's reach over HTTP/1.1): a bare 414 or 431, and no Status body.
    Case {
        name: "100k command parameters",
        query: || format!("{}stdout=1", "command=x&".repeat(100_000)),
        status: &[414, 431],
        says: "",
    },
    Case {
        name: "a 1 MiB query",
        query: || format!("command=echo&command={}&stdout=1", "a".repeat(1 << 20)),
        status: &[414, 431],
        says: "",
    },
];

#[tokio::test]
async fn hostile_queries_get_a_clear_error_and_never_reach_upstream() {
    let _shared = shared().await;
    let bed = testbed().await;
    for case in CASES {
        for (method, headers) in [
            ("GET", ws_headers("v5.channel.k8s.io")),
            ("POST", spdy_headers()),
        ] {
            let target = format!("{EXEC_PATH}?{}", (case.query)());
            let (res, _, _) = request(&bed, method, &target, &headers).await;
            assert!(
                case.status.contains(&res.status),
                "{} over {method}: HTTP {} {:.300}",
                case.name,
                res.status,
                res.body
            );
            if res.status == 400 {
                let (code, message) = status_body(&res.body);
                assert_eq!(code, 400, "{}", case.name);
                assert!(message.contains(case.says), "{}: {message}", case.name);
            }
        }
    }
    assert_eq!(upstream_execs(&bed), 0, "a refused exec reached upstream");
    still_serving(&bed, Client::WebSocket).await;
    assert_eq!(upstream_execs(&bed), 1);
}
