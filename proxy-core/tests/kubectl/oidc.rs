//! OIDC ID tokens (`auth.oidc`) through real kubectl `--token`: a token of the issuer is an
//! identity (prefixed user and groups, impersonated upstream); expired, wrong-audience,
//! wrong-issuer, wrongly signed and unsigned tokens get 401 and never reach upstream; and
//! with the issuer unreachable the `jwksFile` keys alone serve.

use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use kubewitness_sim::{TestAlg, TestIssuer};
use proxy_core::config::{AuthConfig, OidcConfig};

use crate::support::*;

const CLIENT_ID: &str = "kubewitness";

/// A testbed validating `oidc` tokens, with a budget for the refused ones below.
async fn bed(oidc: OidcConfig) -> Testbed {
    testbed_with(TestbedOptions {
        auth: AuthConfig {
            oidc: Some(oidc),
            unauthenticated_per_second: Some(100),
            unauthenticated_burst: Some(100),
            ..AuthConfig::default()
        },
        ..TestbedOptions::default()
    })
    .await
}

async fn with_token(bed: &Testbed, token: &str, args: &[&str]) -> Run {
    let mut all = vec!["--token", token];
    all.extend_from_slice(args);
    kubectl(bed, Client::WebSocket, &all).await
}

#[tokio::test]
async fn an_oidc_token_is_an_identity_and_bad_ones_get_401() {
    let issuer = TestIssuer::start().await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let ca = files.path().join("issuer-ca.crt");
    std::fs::write(&ca, issuer.ca_pem()).unwrap();
    let bed = bed(OidcConfig {
        issuer_url: issuer.url().to_string(),
        client_id: CLIENT_ID.into(),
        groups_claim: Some("groups".into()),
        groups_prefix: Some("oidc:".into()),
        ca_file: Some(ca),
        ..OidcConfig::default()
    })
    .await;
    assert!(issuer.fetches() >= 1, "the keys were not fetched at start");
    let mut claims = issuer.claims("alice-sub", CLIENT_ID);
    claims["groups"] = serde_json::json!(["sre", "oncall"]);
    let user = format!("{}#alice-sub", issuer.url());

    let rs = issuer.sign(TestAlg::Rs256, &claims);
    let whoami = with_token(&bed, &rs, &["auth", "whoami", "-o", "json"]).await;
    whoami.ok();
    let review: serde_json::Value = serde_json::from_slice(&whoami.stdout).unwrap();
    let info = &review["status"]["userInfo"];
    assert_eq!(info["username"], user.as_str());
    assert_eq!(
        info["groups"],
        serde_json::json!(["oidc:sre", "oidc:oncall", "system:authenticated"])
    );
    let es = issuer.sign(TestAlg::Es256, &claims);
    let exec = with_token(&bed, &es, &["exec", "web-0", "--", "echo", "by oidc"]).await;
    exec.ok();
    assert_eq!(exec.stdout_str(), "by oidc\n");
    let requests = bed.sim.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.headers["impersonate-user"], user.as_str());
        let groups: Vec<_> = r.headers.get_all("impersonate-group").iter().collect();
        assert_eq!(groups, ["oidc:sre", "oidc:oncall"], "{}", r.uri);
    }
    bed.sim.clear_requests();

    let now = claims["iat"].as_u64().unwrap();
    let patched = |patch: serde_json::Value| {
        let mut c = claims.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let bad = [
        (
            "expired",
            issuer.sign(
                TestAlg::Es256,
                &patched(serde_json::json!({"exp": now - 3600, "nbf": now - 7200})),
            ),
        ),
        (
            "wrong audience",
            issuer.sign(
                TestAlg::Rs256,
                &patched(serde_json::json!({"aud": "other-client"})),
            ),
        ),
        (
            "wrong issuer",
            issuer.sign(
                TestAlg::Es256,
                &patched(serde_json::json!({"iss": "https://issuer.invalid"})),
            ),
        ),
        (
            "wrongly signed",
            issuer.sign_with_a_foreign_key(&claims).unwrap(),
        ),
        ("alg none", TestIssuer::unsigned(&claims)),
        (
            "unknown key id",
            issuer.sign_as(TestAlg::Es256, "rotated-away", &claims),
        ),
    ];
    let fetches = issuer.fetches();
    for (what, token) in &bad {
        let run = with_token(&bed, token, &["get", "pods"]).await;
        assert_ne!(run.code, Some(0), "{what} was accepted");
        assert!(
            run.stderr.contains("You must be logged in"),
            "{what}: {}",
            run.stderr
        );
    }
    assert!(
        bed.sim.requests().is_empty(),
        "a refused token reached upstream"
    );
    // An unknown key id refreshes the keys at most once per MIN_REFRESH_INTERVAL, however
    // often kubectl retries (the start-up fetch was just now, so here not at all).
    assert!(
        issuer.fetches() <= fetches + 1,
        "{} fetches",
        issuer.fetches()
    );
    let oidc = bed.proxy.authenticator().oidc().expect("OIDC is on");
    let failures: std::collections::BTreeMap<_, _> = oidc.failures().into_iter().collect();
    for reason in [
        "expired",
        "audience",
        "signature",
        "algorithm",
        "unknown_key",
    ] {
        assert!(failures[reason] > 0, "{reason} not counted: {failures:?}");
    }
}

#[tokio::test]
async fn the_jwks_file_serves_when_the_issuer_cannot_be_reached() {
    let issuer = TestIssuer::start().await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let jwks = files.path().join("jwks.json");
    std::fs::write(&jwks, issuer.jwks()).unwrap();
    // Nothing listens on port 1: an air-gapped cluster's view of its issuer.
    let offline = "https://127.0.0.1:1";
    let bed = bed(OidcConfig {
        issuer_url: offline.into(),
        client_id: CLIENT_ID.into(),
        username_claim: Some("email".into()),
        jwks_file: Some(jwks),
        ..OidcConfig::default()
    })
    .await;
    let mut claims = issuer.claims("bob-sub", CLIENT_ID);
    claims["iss"] = offline.into();
    claims["email"] = "bob@example.com".into();
    let token = issuer.sign(TestAlg::Rs256, &claims);
    let whoami = with_token(&bed, &token, &["auth", "whoami", "-o", "json"]).await;
    whoami.ok();
    let review: serde_json::Value = serde_json::from_slice(&whoami.stdout).unwrap();
    // The `email` claim gets no issuer prefix.
    assert_eq!(review["status"]["userInfo"]["username"], "bob@example.com");
    let forged = issuer.sign_with_a_foreign_key(&claims).unwrap();
    let run = with_token(&bed, &forged, &["get", "pods"]).await;
    assert!(
        run.stderr.contains("You must be logged in"),
        "{}",
        run.stderr
    );
}
