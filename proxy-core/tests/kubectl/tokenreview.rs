//! TokenReview against the simulated API server: answers cached (rejections too), `extra`
//! kept, audiences checked, and the per-address budget in front of uncached reviews.

use std::net::IpAddr;

use kubewitness_sim::{SimConfig, SimServer};
use proxy_core::auth::{AddressLimit, AuthError, Authenticator, TokenReviewer};
use proxy_core::config::UpstreamConfig;
use proxy_core::upstream::Upstream;

struct Bed {
    sim: SimServer,
    _dir: tempfile::TempDir,
    upstream: Upstream,
    token: String,
}

fn random_token() -> String {
    format!("t{:032x}", rand::random::<u128>())
}

async fn bed(audiences: Option<Vec<String>>) -> Bed {
    let token = random_token();
    let cfg = SimConfig {
        token_reviews: vec![(
            token.clone(),
            "robot".into(),
            Some("uid-r".into()),
            vec!["bots".into(), "system:authenticated".into()],
        )],
        token_review_extra: [(
            token.clone(),
            [(
                "scopes.example.com/mode".to_string(),
                vec!["read-only".to_string()],
            )]
            .into(),
        )]
        .into(),
        token_review_audiences: audiences,
        ..SimConfig::default()
    };
    let sim = SimServer::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sim.kubeconfig()).unwrap();
    let upstream = Upstream::from_config(&UpstreamConfig {
        kubeconfig: Some(kubeconfig),
        context: None,
    })
    .await
    .unwrap();
    Bed {
        sim,
        _dir: dir,
        upstream,
        token,
    }
}

impl Bed {
    fn auth(&self, audiences: &[&str]) -> Authenticator {
        let reviewer = TokenReviewer::new(self.upstream.client().clone())
            .with_audiences(audiences.iter().map(|a| a.to_string()).collect());
        Authenticator::new(None, Some(reviewer))
    }

    fn reviews(&self) -> usize {
        let path = "/apis/authentication.k8s.io/v1/tokenreviews";
        self.sim
            .requests()
            .iter()
            .filter(|r| r.uri.path() == path)
            .count()
    }
}

fn bearer(token: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    h
}

fn addr(last: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, last])
}

#[tokio::test]
async fn answers_are_cached_rejections_too_and_extra_is_kept() {
    let bed = bed(None).await;
    let auth = bed.auth(&[]);
    for _ in 0..5 {
        let id = auth
            .authenticate(&bearer(&bed.token), None, addr(1))
            .await
            .unwrap();
        assert_eq!(id.user, "robot");
        assert_eq!(id.uid.as_deref(), Some("uid-r"));
        assert_eq!(id.groups, ["bots"]);
        assert_eq!(
            id.extra["scopes.example.com/mode"],
            vec!["read-only".to_string()]
        );
    }
    assert_eq!(bed.reviews(), 1, "a known token is reviewed once");
    let unknown = random_token();
    for _ in 0..3 {
        let err = auth
            .authenticate(&bearer(&unknown), None, addr(2))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::Invalid), "{err:?}");
    }
    assert_eq!(bed.reviews(), 2, "a rejected token is reviewed once");
}

#[tokio::test]
async fn random_tokens_from_one_address_cost_at_most_its_burst_in_reviews() {
    let bed = bed(None).await;
    let limit = AddressLimit {
        per_second: 0.5,
        burst: 3,
    };
    let auth = bed.auth(&[]).with_address_limit(limit);
    let mut throttled = 0;
    for _ in 0..50 {
        match auth
            .authenticate(&bearer(&random_token()), None, addr(3))
            .await
        {
            Err(AuthError::Throttled(_)) => throttled += 1,
            Err(AuthError::Invalid) => {}
            other => panic!("{other:?}"),
        }
    }
    let reviews = bed.reviews();
    eprintln!("50 random tokens: {reviews} TokenReviews, {throttled} answered 429");
    assert!(reviews <= 4, "{reviews} reviews");
    assert!(throttled >= 45, "{throttled}");
    // Another address is not held responsible, and a valid token still works there.
    let id = auth.authenticate(&bearer(&bed.token), None, addr(4)).await;
    assert_eq!(id.unwrap().user, "robot");
}

#[tokio::test]
async fn a_token_for_other_audiences_is_not_authenticated() {
    let bed = bed(Some(vec!["some-other-service".into()])).await;
    let err = bed
        .auth(&["kubewitness"])
        .authenticate(&bearer(&bed.token), None, addr(5))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Invalid), "{err:?}");
    // The review asked for the configured audience.
    let asked = bed.sim.requests().len();
    assert_eq!(asked, 1);
    // Without configured audiences the same token is fine.
    let id = bed
        .auth(&[])
        .authenticate(&bearer(&bed.token), None, addr(5))
        .await;
    assert_eq!(id.unwrap().user, "robot");
}

#[tokio::test]
async fn a_token_for_a_configured_audience_is_authenticated() {
    let bed = bed(Some(vec!["kubewitness".into(), "x".into()])).await;
    let id = bed
        .auth(&["kubewitness"])
        .authenticate(&bearer(&bed.token), None, addr(6))
        .await;
    assert_eq!(id.unwrap().user, "robot");
}
