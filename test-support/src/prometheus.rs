//! A real Prometheus for the gateway tests: the distribution's `prometheus` and `promtool`,
//! data backfilled from an OpenMetrics file generated here, served on a free loopback port
//! from a temporary directory, and killed when the test binary ends (a watchdog shell kills
//! it when this process is gone, even after a panic or SIGKILL).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use proxy_core::prometheus::PrometheusConfig;
use rustls_pki_types::pem::PemObject;

/// Where the Debian package puts them (`.ci/run` installs it).
pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const PROMTOOL: &str = "/usr/bin/promtool";
/// Series of the high-cardinality metric `hc_series` (all in namespace `shop`).
pub const HC_SERIES: usize = 60_001;
/// Services per namespace: `other` must never show up in an answer.
pub const SERVICES: &[(&str, &str)] = &[
    ("shop", "cart"),
    ("shop", "checkout"),
    ("payments-eu", "ledger"),
    ("other", "secret-svc"),
];
/// A label value that looks like a credential (assembled, not a literal key).
pub fn planted_secret() -> String {
    format!("{}X", &["AKIA", "Q3EXAMPLE7TESTKEY"].concat()[..19])
}

/// The policy the gateway tests run with: `alice` (group `sre`) may query `shop` and
/// `payments-*`; `bot` has a tight query rate; `carol` has no metrics grant.
pub const POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: sre-metrics
  subjects: {groups: [sre]}
  metrics:
    namespaces: [shop, "payments-*"]
    maxRange: 1h
    minStep: 10s
    maxSeries: 50000
    maxResultBytes: 1Mi
    timeout: 30s
    queriesPerMinute: 600
- name: bot-metrics
  subjects: {users: [bot]}
  metrics: {namespaces: [shop], queriesPerMinute: 2}
- name: dash-small-answers
  subjects: {users: [dash]}
  metrics: {namespaces: [shop, "payments-*"], maxResultBytes: 2Ki}
- name: carol-pods
  subjects: {users: [carol]}
  namespaces: [shop]
  read: [pods]
"#;

/// The shared backend: started once per test binary.
#[derive(Debug)]
pub struct Backend {
    pub url: String,
    /// Unix seconds of the newest sample.
    pub now: i64,
    _dir: tempfile::TempDir,
}

static BACKEND: OnceLock<Backend> = OnceLock::new();

/// The running Prometheus (started on first use).
pub fn backend() -> &'static Backend {
    BACKEND.get_or_init(|| start().expect("prometheus starts with the backfilled data"))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// The OpenMetrics file: two hours of one sample a minute for `up` and the request
/// counters (namespace `shop`'s `cart` 5xx counter spikes in the last ten minutes), one
/// sample for each `hc_series` series, and a `build_info` whose label holds a secret.
fn openmetrics(now: i64) -> String {
    let start = now - 2 * 3600;
    let mut out = String::from("# TYPE http_requests counter\n");
    for (ns, svc) in SERVICES {
        for status in ["200", "500"] {
            let mut total = 0u64;
            for t in (start..=now).step_by(60) {
                total += match (*svc, status) {
                    ("cart", "500") if t > now - 600 => 500,
                    (_, "500") => 1,
                    _ => 20,
                };
                let _ = writeln!(
                    out,
                    "http_requests_total{{namespace=\"{ns}\",service=\"{svc}\",status=\"{status}\"}} {total} {t}"
                );
            }
        }
    }
    out.push_str("# TYPE up gauge\n");
    for (ns, svc) in SERVICES {
        for t in (start..=now).step_by(60) {
            let _ = writeln!(out, "up{{namespace=\"{ns}\",job=\"{svc}\"}} 1 {t}");
        }
    }
    out.push_str("# TYPE hc_series gauge\n");
    for i in 0..HC_SERIES {
        let _ = writeln!(
            out,
            "hc_series{{namespace=\"shop\",id=\"{i}\"}} 1 {}",
            now - 300
        );
    }
    out.push_str("# TYPE build_info gauge\n");
    let _ = writeln!(
        out,
        "build_info{{namespace=\"shop\",version=\"{}\"}} 1 {}",
        planted_secret(),
        now - 60
    );
    out.push_str("# EOF\n");
    out
}

fn start() -> Result<Backend, String> {
    for bin in [PROMETHEUS, PROMTOOL] {
        if !Path::new(bin).exists() {
            return Err(format!("{bin} is required (apt-get install prometheus)"));
        }
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let now = unix_now() - 60;
    let om = dir.path().join("data.om");
    std::fs::write(&om, openmetrics(now)).map_err(|e| e.to_string())?;
    let tsdb = dir.path().join("tsdb");
    let out = Command::new(PROMTOOL)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&tsdb)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "promtool: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global: {}\nscrape_configs: []\n").map_err(|e| e.to_string())?;
    let port = free_port();
    // The watchdog: runs prometheus, and kills it as soon as this test process is gone.
    let script = format!(
        "{PROMETHEUS} --config.file={} --storage.tsdb.path={} --web.listen-address=127.0.0.1:{port} \
         --storage.tsdb.retention.time=30d --log.level=warn & child=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $child; wait $child",
        config.display(),
        tsdb.display(),
        parent = std::process::id()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&url)?;
    Ok(Backend {
        url,
        now,
        _dir: dir,
    })
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("bound").port()
}

/// Waits (up to 60 s) until Prometheus answers a query over the backfilled data.
fn wait_ready(url: &str) -> Result<(), String> {
    // On a thread of its own: the caller may be inside a test's runtime.
    let url = url.to_string();
    std::thread::spawn(move || wait_ready_on_own_runtime(&url))
        .join()
        .map_err(|_| "the readiness check panicked".to_string())?
}

fn wait_ready_on_own_runtime(url: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = plain_client();
        for _ in 0..600 {
            let ready = client
                .get(format!("{url}/api/v1/query?query=count(up)"))
                .send()
                .await;
            if let Ok(res) = ready
                && res.status().is_success()
                && res.text().await.is_ok_and(|t| t.contains("\"4\""))
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("prometheus did not become ready with the backfilled data".into())
    })
}

/// A reqwest client for plain http (ring as its TLS provider, never used).
pub fn plain_client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(proxy_core::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client")
}

/// A testbed whose gateway talks to the shared Prometheus, with [`POLICY`].
pub async fn testbed() -> Testbed {
    let backend = backend();
    Testbed::start(TestbedOptions {
        users: vec![
            ("alice".into(), vec!["sre".into()]),
            ("bot".into(), vec![]),
            ("carol".into(), vec![]),
            ("dash".into(), vec![]),
        ],
        policy: Some(POLICY.into()),
        prometheus: Some(PrometheusConfig {
            url: backend.url.clone(),
            ..PrometheusConfig::default()
        }),
        ..TestbedOptions::default()
    })
    .await
    .expect("testbed starts")
}

/// A client for kubewitness's TLS listener, trusting the testbed CA.
pub fn client(bed: &Testbed) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    let pem = bed.ca.ca_pem().as_bytes();
    for cert in <rustls_pki_types::CertificateDer as PemObject>::pem_slice_iter(pem) {
        roots.add(cert.expect("ca pem")).expect("ca");
    }
    let tls = rustls::ClientConfig::builder_with_provider(proxy_core::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client")
}

/// An answer: status and JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub json: serde_json::Value,
    pub retry_after: Option<String>,
}

impl Answer {
    /// The `error` of an error answer, checking Prometheus's error shape.
    #[track_caller]
    pub fn error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.json);
        assert_eq!(self.json["status"], "error", "{}", self.json);
        assert!(self.json["errorType"].is_string(), "{}", self.json);
        self.json["error"].as_str().expect("error text").to_string()
    }

    /// `data.result` of a successful query.
    #[track_caller]
    pub fn result(&self) -> &Vec<serde_json::Value> {
        assert_eq!(self.status, 200, "{}", self.json);
        self.json["data"]["result"].as_array().expect("a result")
    }
}

/// POSTs `form` to the gateway's `endpoint` as caller `who` (an index into the callers),
/// the way Grafana does.
pub async fn post(bed: &Testbed, who: usize, endpoint: &str, form: &[(&str, String)]) -> Answer {
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                proxy_core::request::percent_encode(k),
                proxy_core::request::percent_encode(v)
            )
        })
        .collect();
    let res = client(bed)
        .post(format!("{}/prometheus/api/v1/{endpoint}", bed.url()))
        .bearer_auth(&bed.callers[who].token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
        .send()
        .await
        .expect("the gateway answers");
    answer(res).await
}

/// GETs the gateway's `endpoint?query` as caller `who`.
pub async fn get(bed: &Testbed, who: usize, path_and_query: &str) -> Answer {
    let res = client(bed)
        .get(format!("{}/prometheus/api/v1/{path_and_query}", bed.url()))
        .bearer_auth(&bed.callers[who].token)
        .send()
        .await
        .expect("the gateway answers");
    answer(res).await
}

async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let bytes = res.bytes().await.expect("a body");
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    Answer {
        status,
        json,
        retry_after,
    }
}

/// A Grafana-style range form: `query` over the last `minutes` minutes, `step` seconds.
pub fn range_form(query: &str, minutes: i64, step: &str) -> Vec<(&'static str, String)> {
    let end = backend().now;
    vec![
        ("query", query.to_string()),
        ("start", (end - minutes * 60).to_string()),
        ("end", end.to_string()),
        ("step", step.to_string()),
    ]
}

/// Asks Prometheus itself (no gateway) for `query` over the same range.
pub async fn direct(query: &str, minutes: i64, step: &str) -> serde_json::Value {
    let form = range_form(query, minutes, step);
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{k}={}", proxy_core::request::percent_encode(v)))
        .collect();
    let res = plain_client()
        .post(format!("{}/api/v1/query_range", backend().url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
        .send()
        .await
        .expect("prometheus answers");
    serde_json::from_slice(&res.bytes().await.expect("a body")).expect("json")
}
