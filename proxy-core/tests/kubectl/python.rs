//! The official Python client (`pip install kubernetes`) through kubewitness: exec over its
//! WebSocket channel protocol (output, stderr, exit codes, stdin), logs (tail and follow),
//! and policy denials as `ApiException`s. The script is `python/client.py`; this module
//! checks what it printed, and that the sessions it made were recorded and verify.

use std::path::Path;
use std::time::Duration;

use base64::prelude::*;
use kubewitness_sim::testbed::TestbedOptions;
use serde_json::Value;

use crate::support::*;

/// The whole script (14 sessions, a followed log, two denials) ends well within this.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The testbed's caller is alice; `rm` is not among the allowed commands, and nothing
/// allows reading secrets.
const POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: python-client
  subjects: {users: [alice]}
  namespaces: [default]
  read: [pods]
  logs: {}
  exec:
    commands:
      - [echo, "**"]
      - [sh, -c, "*"]
      - ["true"]
      - [cat]
    stdin: true
    tty: true
"#;

/// Runs `python/SCRIPT` against the testbed and parses the JSON it prints.
pub(crate) async fn run_script(script: &str, kubeconfig: &Path, pod: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kubectl/python")
        .join(script);
    python_json(
        &script,
        &[kubeconfig.as_os_str(), pod.as_ref()],
        SCRIPT_TIMEOUT,
    )
    .await
}

/// One case's result; a case that raised carries `error` and `traceback`.
#[track_caller]
fn case<'a>(results: &'a Value, name: &str) -> &'a Value {
    let case = &results[name];
    assert!(
        case.get("error").is_none(),
        "{name}: {}\n{}",
        case["error"],
        case["traceback"].as_str().unwrap_or_default()
    );
    case
}

/// (1)–(3) for one protocol: output gathered in the default mode and kept apart with
/// `_preload_content=False`, the exit code from the error channel, stdin echoed by `cat`.
#[track_caller]
fn exec_cases(results: &Value, prefix: &str, subprotocol: &str) {
    let name = |case: &str| format!("{prefix}{case}");
    assert_eq!(case(results, &name("plain"))["output"], "hello world\n");
    let split = case(results, &name("split"));
    assert_eq!(split["stdout"], "to-out\nmore-out\n", "{prefix}");
    assert_eq!(split["stderr"], "to-err\n", "{prefix}");
    assert_eq!(split["returncode"], 0, "{prefix}");
    assert_eq!(split["subprotocol"], subprotocol);
    let codes = case(results, &name("exit_code"));
    assert_eq!(codes["three"], 3, "{prefix}");
    assert_eq!(codes["zero"], 0, "{prefix}");
    let stdin = case(results, &name("stdin"));
    assert_eq!(
        stdin["lines"],
        serde_json::json!(["first line", "second line"]),
        "{prefix}"
    );
}

#[tokio::test]
async fn the_official_python_client_execs_reads_logs_and_is_denied() {
    if !python_has("kubernetes").await {
        eprintln!("skipped: python kubernetes client not installed");
        return;
    }
    let bed = testbed_with(TestbedOptions {
        policy: Some(POLICY.to_string()),
        ..TestbedOptions::default()
    })
    .await;
    let pod = &bed.sim.config().pods[0];
    assert_eq!(pod.namespace, "default");
    let results = run_script("client.py", &bed.kubeconfig, &pod.name).await;

    // The client offers v5 then v4 (older releases v4 only); kubewitness takes the first.
    exec_cases(&results, "", "v5.channel.k8s.io");
    exec_cases(&results, "v4_", "v4.channel.k8s.io");
    // v5 only: closing stdin ends `cat`, after the last bytes without a newline.
    let stdin = case(&results, "stdin");
    assert_eq!(stdin["rest"], "no newline");
    assert_eq!(stdin["returncode"], 0);
    assert_eq!(stdin["open"], false);
    let binary = case(&results, "binary");
    let every_byte: Vec<u8> = (0..=255).collect();
    assert_eq!(binary["stdout"], BASE64_STANDARD.encode(&every_byte));
    assert_eq!(binary["returncode"], 0);
    let tty = case(&results, "tty");
    assert!(
        tty["output"].as_str().unwrap().contains("40 120\r\n"),
        "{tty}"
    );
    assert_eq!(tty["returncode"], 0);

    // (4) Logs: the last two lines, then the whole log plus the lines followed.
    let container = &pod.containers[0];
    let logs = case(&results, "logs");
    let tail: String = container.log[container.log.len() - 2..]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(logs["tail"], tail);
    let follow: String = container
        .log
        .iter()
        .chain(&container.follow_lines)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(logs["follow"], follow);

    // (5) Denials. A REST call gets `ApiException(status=403)` with the Status message as
    // its body. A denied WebSocket upgrade is a 403 too, but the client's stream() wraps
    // every handshake failure as `ApiException(status=0)` with the status line and body in
    // its reason, so that is where the message is.
    let denied = case(&results, "denied");
    let secrets = &denied["secrets"];
    assert_eq!(secrets["status"], 403, "{secrets}");
    let body: Value = serde_json::from_str(secrets["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["code"], 403);
    assert_eq!(
        body["message"],
        "kubewitness: list of secrets in namespace default denied: no rule for you allows reading secrets here"
    );
    let exec = &denied["exec"];
    let reason = exec["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("Handshake status 403 "), "{exec}");
    // websocket-client's reason: "Handshake status CODE TEXT -+-+- HEADERS -+-+- BODY".
    let body = reason.rsplit(" -+-+- ").next().unwrap();
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {exec}"));
    assert_eq!(body["code"], 403);
    assert_eq!(
        body["message"],
        r#"kubewitness: exec of ["rm","-rf","/"] in default/web-0 denied: no rule allows this command"#
    );
    assert!(
        !bed.sim
            .requests()
            .iter()
            .any(|r| r.uri.path().ends_with("/secrets")
                || r.uri.query().is_some_and(|q| q.contains("command=rm"))),
        "a denied request reached upstream"
    );

    // Every session the script made is recorded, sealed and verifies; the stdin session's
    // recording holds exactly what `cat` echoed.
    let store = record_store(&bed);
    let ids = store.sessions().await.expect("lists");
    assert_eq!(ids.len(), 14, "12 execs and 2 logs: {ids:?}");
    let mut echoed = 0;
    for id in &ids {
        let report = sealed_session(&store, &seal_key(&bed), id).await;
        assert!(report.intact, "{id}: {:?}", report.problems);
        assert!(report.pinned, "{id}");
        if exported_text(&store, id).await.0 == b"first line\nsecond line\nno newline" {
            echoed += 1;
        }
    }
    assert_eq!(echoed, 1, "the stdin session's recording");
}
