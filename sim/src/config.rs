//! What the simulated cluster contains and how it behaves: [`SimConfig`] and the demo fixture
//! its `Default` builds.
//!
//! The fixture is plain data; [`super::store`] turns it into the API objects the REST
//! handlers serve, so tests can build their own clusters by editing a `SimConfig`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// How a [`super::SimServer`] behaves and which objects it serves.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The bearer token every request must carry (kubewitness's own upstream credential);
    /// any other credential gets a `401 Unauthorized` `Status`.
    pub token: String,
    /// TokenReview answers served by `POST /apis/authentication.k8s.io/v1/tokenreviews`:
    /// `(token, username, uid, groups)`. Unknown tokens review as `authenticated: false`.
    pub token_reviews: Vec<(String, String, Option<String>, Vec<String>)>,
    /// `user.extra` of reviewed tokens, by token.
    pub token_review_extra: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// The `status.audiences` of every successful review; `None` echoes the request's.
    pub token_review_audiences: Option<Vec<String>>,
    /// Accept SPDY/3.1 upgrades for exec/attach. When false they get a 400 `Status`.
    pub spdy: bool,
    /// Accept WebSocket upgrades for exec/attach. When false they get a 400 `Status`,
    /// which makes kubectl fall back to SPDY.
    pub websocket: bool,
    /// Serve HTTPS with a CA generated at start ([`super::SimServer::ca_pem`]).
    pub tls: bool,
    /// Namespaces. Namespaces named by pods but missing here are served without labels.
    pub namespaces: Vec<SimNamespace>,
    /// Pods, all in phase `Running`.
    pub pods: Vec<SimPod>,
    /// The pause between two `follow_lines` of a followed log.
    pub follow_interval: Duration,
    /// Where `pods/portforward` connects: `(pod, port)` to a TCP address. The pod is named
    /// `namespace/name`. Unmapped ports answer like a kubelet whose pod refuses the
    /// connection.
    pub port_forwards: BTreeMap<(String, u16), SocketAddr>,
}

impl SimConfig {
    /// The address `namespace/name`'s `port` is forwarded to, if mapped.
    pub fn port_forward_target(&self, pod: &str, port: u16) -> Option<SocketAddr> {
        self.port_forwards.get(&(pod.to_owned(), port)).copied()
    }
}

/// A namespace of the simulated cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimNamespace {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
}

/// A pod of the simulated cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimPod {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec.containers`, in order (the first is the default without an annotation).
    pub containers: Vec<SimContainer>,
    /// A fault injected into every exec and attach session of the pod (tests).
    pub fault: Option<super::SimFault>,
    /// Messages of `Warning` events about the pod, besides its `Started` event.
    pub warnings: Vec<String>,
}

/// A container of a [`SimPod`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimContainer {
    /// The container name.
    pub name: String,
    /// The image shown in the pod spec.
    pub image: String,
    /// What `attach` runs (as a local process, like `exec`): the container's "main process".
    pub attach_command: Vec<String>,
    /// The log lines already written (without trailing newlines).
    pub log: Vec<String>,
    /// Lines a followed log emits, one per [`SimConfig::follow_interval`]; the follow stream
    /// then ends as if the container had exited.
    pub follow_lines: Vec<String>,
    /// `env` entries `(name, value)` shown in the pod spec.
    pub env: Vec<(String, String)>,
    /// How the container's previous instance ended, when it was restarted (`lastState`).
    pub last_termination: Option<SimTermination>,
}

/// A container's previous termination, shown as `lastState.terminated`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimTermination {
    /// The reason (`OOMKilled`, `Error`).
    pub reason: String,
    /// The exit code (137 for an OOM kill).
    pub exit_code: i32,
    /// How many times the container has restarted.
    pub restarts: u32,
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn lines(text: &[&str]) -> Vec<String> {
    text.iter().map(|l| (*l).to_owned()).collect()
}

impl Default for SimConfig {
    /// The demo cluster: namespaces `default` and `shop` (labelled `debug-ai-exec: enabled`),
    /// pod `default/web-0` (container `app`) and pod `shop/api-7` (containers `api` and
    /// `sidecar`, default container `api`, label `app=api`).
    fn default() -> SimConfig {
        SimConfig {
            token: "kubewitness-sim-token".into(),
            token_reviews: Vec::new(),
            token_review_extra: BTreeMap::new(),
            token_review_audiences: None,
            spdy: true,
            websocket: true,
            tls: false,
            namespaces: vec![
                SimNamespace {
                    name: "default".into(),
                    labels: labels(&[("kubernetes.io/metadata.name", "default")]),
                },
                SimNamespace {
                    name: "shop".into(),
                    labels: labels(&[
                        ("kubernetes.io/metadata.name", "shop"),
                        ("debug-ai-exec", "enabled"),
                    ]),
                },
            ],
            pods: vec![web_pod(), api_pod()],
            follow_interval: Duration::from_millis(500),
            port_forwards: BTreeMap::new(),
        }
    }
}

fn web_pod() -> SimPod {
    SimPod {
        namespace: "default".into(),
        name: "web-0".into(),
        labels: labels(&[
            ("app", "web"),
            ("statefulset.kubernetes.io/pod-name", "web-0"),
        ]),
        annotations: BTreeMap::new(),
        fault: None,
        warnings: Vec::new(),
        containers: vec![SimContainer {
            name: "app".into(),
            image: "nginx:1.27".into(),
            attach_command: lines(&["sh", "-c", "echo 'nginx: ready'; exec cat"]),
            env: Vec::new(),
            log: lines(&[
                "/docker-entrypoint.sh: Configuration complete; ready for start up",
                "2024/05/02 09:14:07 [notice] 1#1: nginx/1.27.0",
                "2024/05/02 09:14:07 [notice] 1#1: start worker processes",
                "10.244.0.1 - - [02/May/2024:09:15:11 +0000] \"GET / HTTP/1.1\" 200 615 \"-\" \"curl/8.5.0\"",
                "10.244.0.1 - - [02/May/2024:09:15:42 +0000] \"GET /healthz HTTP/1.1\" 200 2 \"-\" \"kube-probe/1.32\"",
            ]),
            follow_lines: lines(&[
                "10.244.0.7 - - [02/May/2024:09:16:03 +0000] \"GET /index.html HTTP/1.1\" 200 615 \"-\" \"Mozilla/5.0\"",
                "10.244.0.7 - - [02/May/2024:09:16:04 +0000] \"GET /favicon.ico HTTP/1.1\" 404 153 \"-\" \"Mozilla/5.0\"",
                "2024/05/02 09:16:05 [notice] 1#1: signal 3 (SIGQUIT) received, shutting down",
            ]),
            last_termination: None,
        }],
    }
}

fn api_pod() -> SimPod {
    SimPod {
        namespace: "shop".into(),
        name: "api-7".into(),
        labels: labels(&[("app", "api"), ("tier", "backend")]),
        annotations: BTreeMap::from([(
            "kubectl.kubernetes.io/default-container".to_owned(),
            "api".to_owned(),
        )]),
        fault: None,
        warnings: Vec::new(),
        containers: vec![
            SimContainer {
                name: "api".into(),
                image: "ghcr.io/example/shop-api:2.4.1".into(),
                attach_command: lines(&["sh", "-c", "echo 'api: attached'; exec cat"]),
                env: Vec::new(),
                log: lines(&[
                    "level=info msg=\"starting shop-api\" version=2.4.1",
                    "level=info msg=\"connected to postgres\" host=db.shop.svc port=5432",
                    "level=info msg=\"listening\" addr=:8080",
                    "level=info msg=\"request\" method=GET path=/v1/orders status=200 dur=12ms",
                    "level=warn msg=\"slow query\" table=orders dur=870ms",
                    "level=info msg=\"request\" method=POST path=/v1/orders status=201 dur=41ms",
                ]),
                follow_lines: lines(&[
                    "level=info msg=\"request\" method=GET path=/v1/orders/42 status=200 dur=9ms",
                    "level=error msg=\"payment gateway timeout\" order=42 retry=1",
                    "level=info msg=\"shutting down\" signal=SIGTERM",
                ]),
                last_termination: None,
            },
            SimContainer {
                name: "sidecar".into(),
                image: "envoyproxy/envoy:v1.30.1".into(),
                attach_command: lines(&["sh", "-c", "exec cat"]),
                env: Vec::new(),
                log: lines(&[
                    "[info][main] starting main dispatch loop",
                    "[info][upstream] cds: add 3 cluster(s), remove 0 cluster(s)",
                    "[info][config] all dependencies initialized. starting workers",
                ]),
                follow_lines: lines(&["[info][main] shutting down"]),
                last_termination: None,
            },
        ],
    }
}
