//! `upstream.tokenRequest`: kubewitness mints its own ServiceAccount token from the
//! simulated API server with the kubeconfig's credential, uses it for everything else,
//! refreshes it before it expires, and reports it invalid once a refresh cannot replace it.

use std::time::{Duration, Instant};

use kubewitness_sim::{SimConfig, SimServer};
use proxy_core::config::{TokenRequestConfig, UpstreamConfig};
use proxy_core::upstream::Upstream;

/// The bearer token of a recorded request.
fn bearer(r: &kubewitness_sim::RecordedRequest) -> String {
    r.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

/// `kubewitness_upstream_token_expiry_timestamp_seconds` as `/metrics` shows it.
fn token_expiry_gauge() -> Option<u64> {
    let text = proxy_core::metrics::metrics().encode();
    text.lines()
        .find_map(|l| l.strip_prefix("kubewitness_upstream_token_expiry_timestamp_seconds "))
        .and_then(|v| v.trim().parse().ok())
}

async fn version(up: &Upstream) -> Result<String, kube_client::Error> {
    let req = http::Request::get("/version").body(Vec::new()).unwrap();
    up.client().request_text(req).await
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_upstream_token_is_minted_refreshed_and_expires_when_refresh_fails() {
    let sim = SimServer::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sim.kubeconfig()).unwrap();
    let cfg = UpstreamConfig {
        kubeconfig: Some(kubeconfig),
        token_request: Some(TokenRequestConfig {
            service_account: "kubewitness".into(),
            namespace: Some("kubewitness".into()),
            expiration_seconds: Some(3),
            audiences: Vec::new(),
        }),
        ..UpstreamConfig::default()
    };
    // The API server's 10-minute floor holds unless the builder lowers it.
    let err = Upstream::from_config(&cfg).await.unwrap_err();
    assert!(err.to_string().contains("less than 600"), "{err}");
    let up = Upstream::from_config_with_min_token_lifetime(&cfg, Duration::from_secs(1))
        .await
        .unwrap();
    let status = up.credential().expect("a minted credential").clone();
    assert!(status.is_valid());
    let first_expiry = status.expires_at().unwrap();
    assert_eq!(sim.minted_tokens(), 1);
    version(&up).await.unwrap();
    let requests = sim.requests();
    let mint = &requests[0];
    assert_eq!(
        mint.uri.path(),
        "/api/v1/namespaces/kubewitness/serviceaccounts/kubewitness/token"
    );
    assert_eq!(
        bearer(mint),
        sim.config().token,
        "minted with the bootstrap credential"
    );
    let first = bearer(requests.last().unwrap());
    assert!(first.starts_with("sim-sa-"), "the minted token is used");

    // At 80 % of its 3 s a new token replaces it, before the first expires.
    wait_for("a refresh", Duration::from_secs(5), || {
        sim.minted_tokens() == 2
    })
    .await;
    wait_for("the new token in use", Duration::from_secs(2), || {
        status.expires_at() != Some(first_expiry)
    })
    .await;
    assert!(status.is_valid());
    let unix =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(
        token_expiry_gauge(),
        Some(unix(status.expires_at().unwrap())),
        "the expiry metric follows the refresh"
    );
    version(&up).await.unwrap();
    let second = bearer(sim.requests().last().unwrap());
    assert!(second.starts_with("sim-sa-") && second != first);

    // Refreshes fail from now on: the token in use stays until it expires, then the
    // credential is reported invalid and the API server refuses it.
    sim.refuse_token_requests(true);
    wait_for("the expiry", Duration::from_secs(8), || !status.is_valid()).await;
    let err = version(&up).await.unwrap_err();
    assert!(
        err.to_string().contains("401") || err.to_string().contains("Unauthorized"),
        "{err}"
    );
    assert_eq!(bearer(sim.requests().last().unwrap()), second);
}
