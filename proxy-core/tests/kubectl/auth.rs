//! Identity: every upstream request impersonates the caller; nobody gets in without valid
//! credentials; nobody can choose whom they act as.

use base64::Engine as _;
use kubewitness_sim::testbed::TestbedOptions;

use crate::support::*;

#[tokio::test]
async fn every_upstream_request_impersonates_the_caller() {
    let bed = testbed().await;
    for client in BOTH {
        kubectl(&bed, client, &["exec", "web-0", "--", "true"])
            .await
            .ok();
    }
    kubectl(&bed, Client::WebSocket, &["logs", "web-0"])
        .await
        .ok();
    kubectl(&bed, Client::WebSocket, &["get", "pods"])
        .await
        .ok();
    let requests = bed.sim.requests();
    assert!(requests.len() >= 6, "{requests:?}");
    let alice = &bed.callers[0];
    for r in &requests {
        let h = &r.headers;
        assert_eq!(
            h.get("impersonate-user").map(|v| v.to_str().unwrap()),
            Some(alice.user.as_str()),
            "{} {}",
            r.method,
            r.uri
        );
        let groups: Vec<_> = h
            .get_all("impersonate-group")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(groups, alice.groups, "{} {}", r.method, r.uri);
        assert_eq!(
            h.get("impersonate-uid").map(|v| v.to_str().unwrap()),
            Some("uid-0")
        );
        // kubewitness's own credential, never the caller's.
        let auth = h
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            !auth.contains(&alice.token),
            "the caller's token went upstream"
        );
    }
}

#[tokio::test]
async fn a_bad_token_gets_401_and_never_reaches_upstream() {
    let bed = testbed().await;
    let bogus = bed.kubeconfig_for("mallory", "not-a-valid-token").unwrap();
    for client in BOTH {
        let run = kubectl_with(&bed, &bogus, client, &["exec", "web-0", "--", "true"], None).await;
        assert_ne!(run.code, Some(0));
        assert!(
            run.stderr.contains("You must be logged in"),
            "{client:?}: {}",
            run.stderr
        );
    }
    let run = kubectl_with(&bed, &bogus, Client::WebSocket, &["logs", "web-0"], None).await;
    assert!(
        run.stderr.contains("You must be logged in"),
        "{}",
        run.stderr
    );
    assert!(
        bed.sim.requests().is_empty(),
        "an unauthenticated request reached upstream"
    );
}

#[tokio::test]
async fn callers_cannot_impersonate_someone_else() {
    let bed = testbed().await;
    // kubectl sends Impersonate-User/Group itself with --as; kubewitness must not honour it.
    let run = kubectl(
        &bed,
        Client::Spdy,
        &[
            "exec",
            "--as=admin",
            "--as-group=system:masters",
            "web-0",
            "--",
            "true",
        ],
    )
    .await;
    run.ok();
    for r in bed.sim.requests() {
        assert_eq!(r.headers["impersonate-user"], "alice");
        assert!(
            r.headers
                .get_all("impersonate-group")
                .iter()
                .all(|g| g != "system:masters")
        );
    }
}

#[tokio::test]
async fn writes_and_secrets_are_denied_before_upstream() {
    let bed = testbed().await;
    let run = kubectl(&bed, Client::WebSocket, &["delete", "pod", "web-0"]).await;
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("kubewitness"), "{}", run.stderr);
    let run = kubectl(&bed, Client::WebSocket, &["get", "secrets"]).await;
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("kubewitness"), "{}", run.stderr);
    let touched = bed
        .sim
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" || r.uri.path().contains("secrets"));
    assert!(!touched, "a denied request reached upstream");
}

#[tokio::test]
async fn a_token_removed_from_the_file_stops_working_without_a_restart() {
    let bed = testbed_with(TestbedOptions {
        users: vec![
            ("alice".into(), vec!["sre".into()]),
            ("bob".into(), vec!["sre".into()]),
        ],
        ..TestbedOptions::default()
    })
    .await;
    let (alice, bob) = (&bed.callers[0], &bed.callers[1]);
    let bob_config = bed.kubeconfig_for("bob", &bob.token).unwrap();
    let get = ["get", "pods"];
    kubectl_with(&bed, &bob_config, Client::WebSocket, &get, None)
        .await
        .ok();
    let tokens = bed.dir().join("tokens.csv");
    // An invalid edit is rejected and the tokens in force stay.
    std::fs::write(&tokens, format!("{},alice\n", alice.token)).unwrap();
    // Read it now, as SIGHUP does, rather than waiting for the watcher's next poll.
    bed.proxy.reload();
    kubectl_with(&bed, &bob_config, Client::WebSocket, &get, None)
        .await
        .ok();
    // Bob's line goes: within a few polls his token is refused, Alice's still works.
    std::fs::write(&tokens, format!("{},alice,uid-0,sre\n", alice.token)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let run = kubectl_with(&bed, &bob_config, Client::WebSocket, &get, None).await;
        if run.code != Some(0) {
            assert!(
                run.stderr.contains("You must be logged in"),
                "{}",
                run.stderr
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bob's token still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    kubectl(&bed, Client::WebSocket, &get).await.ok();
}

#[tokio::test]
async fn a_client_certificate_is_an_identity_end_to_end() {
    let bed = testbed_with(TestbedOptions {
        client_certs: true,
        ..TestbedOptions::default()
    })
    .await;
    // No token: the certificate alone says who the caller is (CN user, O group; `TestCa`
    // keeps one O: rcgen replaces a repeated attribute type).
    let cert = bed.ca.client_cert("carol", &["sre"]).unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let kubeconfig = bed.dir().join("carol.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: kw\n  cluster:\n    server: https://{addr}\n    certificate-authority-data: {ca}\n\
             users:\n- name: carol\n  user:\n    client-certificate-data: {crt}\n    client-key-data: {key}\n\
             contexts:\n- name: kw\n  context:\n    cluster: kw\n    user: carol\n    namespace: default\n\
             current-context: kw\n",
            addr = bed.addr,
            ca = b64(bed.ca.ca_pem()),
            crt = b64(&cert.cert_pem),
            key = b64(&cert.key_pem),
        ),
    )
    .unwrap();
    let whoami = kubectl_with(
        &bed,
        &kubeconfig,
        Client::WebSocket,
        &["auth", "whoami"],
        None,
    )
    .await;
    whoami.ok();
    let out = whoami.stdout_str();
    assert!(out.contains("carol") && out.contains("sre"), "{out}");
    let before = bed.sim.requests().len();
    let args = ["exec", "web-0", "--", "echo", "by certificate"];
    for client in BOTH {
        let run = kubectl_with(&bed, &kubeconfig, client, &args, None).await;
        run.ok();
        assert_eq!(run.stdout_str(), "by certificate\n", "{client:?}");
    }
    // Upstream, kubewitness acts as carol, not as whoever its own credentials name.
    let requests = bed.sim.requests();
    assert!(requests.len() > before);
    for r in &requests[before..] {
        let user = r
            .headers
            .get("impersonate-user")
            .map(|v| v.to_str().unwrap());
        assert_eq!(user, Some("carol"), "{} {}", r.method, r.uri);
    }
}
