//! Kubernetes-shaped contexts of the corpus: Secret manifests as kubectl and the API server
//! print them, kubeconfigs with embedded keys, docker configs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::support::{ALNUM, Gen};

fn label() -> String {
    ["PRIV", "ATE KEY"].concat()
}

/// A PEM private key (random body) in base64, as `client-key-data` holds it.
pub(crate) fn b64_pem(g: &mut Gen) -> String {
    STANDARD.encode(pem(g))
}

pub(crate) fn pem(g: &mut Gen) -> String {
    let body: Vec<String> = (0..6).map(|_| g.pick(ALNUM, 64)).collect();
    let l = ["RSA ", &label()].concat();
    format!(
        "-----BEGIN {l}-----\n{}\n-----END {l}-----\n",
        body.join("\n")
    )
}

/// A Secret's data value in the shapes the proxy and `kubectl` show.
pub(crate) fn secret_lines(v: &str) -> Vec<String> {
    vec![
        // kubectl get secret -o yaml (keys sorted: data before kind).
        format!(
            "apiVersion: v1\ndata:\n  password: {v}\n  username: YWRtaW4=\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\ntype: Opaque\n"
        ),
        // kubectl get secret -o json.
        format!(
            "{{\n    \"apiVersion\": \"v1\",\n    \"data\": {{\n        \"password\": \"{v}\",\n        \"username\": \"YWRtaW4=\"\n    }},\n    \"kind\": \"Secret\",\n    \"metadata\": {{\"name\": \"db\"}},\n    \"type\": \"Opaque\"\n}}\n"
        ),
        // The API server's JSON: kind first.
        format!(
            "{{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{{\"name\":\"db\",\"namespace\":\"prod\",\"uid\":\"0b6e\"}},\"data\":{{\"password\":\"{v}\"}},\"type\":\"Opaque\"}}\n"
        ),
        // A hand-written manifest: kind before stringData.
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\nstringData:\n  api-key: {v}\n"
        ),
        // A List of Secrets, as `kubectl get secrets -o yaml` prints it.
        format!(
            "apiVersion: v1\nitems:\n- apiVersion: v1\n  data:\n    tls.key: {v}\n  kind: Secret\n  metadata:\n    name: tls\n  type: kubernetes.io/tls\nkind: List\n"
        ),
        // The last-applied-configuration annotation: escaped JSON inside JSON.
        format!(
            "{{\"metadata\":{{\"annotations\":{{\"kubectl.kubernetes.io/last-applied-configuration\":\"{{\\\"apiVersion\\\":\\\"v1\\\",\\\"data\\\":{{\\\"token\\\":\\\"{v}\\\"}},\\\"kind\\\":\\\"Secret\\\"}}\"}}}}}}\n"
        ),
    ]
}

/// A base64 PEM key in a kubeconfig, a Secret-less manifest, an env line, JSON and a log.
pub(crate) fn b64_pem_lines(v: &str) -> Vec<String> {
    vec![
        format!(
            "users:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {v}\n",
            STANDARD.encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        ),
        format!("TLS_KEY_B64={v}\n"),
        format!("{{\"tlsKey\":\"{v}\"}}\n"),
        format!("config:\n  key: {v}\n"),
        format!("$ echo {v} | base64 -d > tls.key\n"),
        format!("2026-12-03T07:00:00Z INFO loaded {v}\n"),
    ]
}

/// Docker config `auth` values and base64 docker config JSON.
pub(crate) fn docker_lines(auth: &str) -> Vec<String> {
    let cfg = format!("{{\"auths\":{{\"registry.example.net\":{{\"auth\":\"{auth}\"}}}}}}");
    let b64 = STANDARD.encode(&cfg);
    vec![
        format!("{cfg}\n"),
        format!(
            "{{\n  \"auths\": {{\n    \"ghcr.io\": {{\n      \"auth\": \"{auth}\"\n    }}\n  }}\n}}\n"
        ),
        format!("  .dockerconfigjson: {b64}\n"),
        format!("DOCKER_CONFIG_JSON={b64}\n"),
        format!("$ echo '{b64}' | base64 -d\n"),
        format!("2026-12-03T07:00:00Z INFO pull secret {b64}\n"),
    ]
}

/// Kubernetes output that must stay visible: ConfigMaps, certificates, API data maps.
pub(crate) fn lookalikes(g: &mut Gen) -> Vec<String> {
    let v = STANDARD.encode(g.pick(ALNUM, 24));
    let cert = STANDARD.encode(format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        g.pick(ALNUM, 64)
    ));
    vec![
        format!(
            "apiVersion: v1\ndata:\n  config.yaml: {v}\n  level: info\nkind: ConfigMap\nmetadata:\n  name: app\n"
        ),
        format!("{{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"data\":{{\"mode\":\"{v}\"}}}}\n"),
        format!("{{\"apiVersion\":\"v1\",\"data\":{{\"mode\":\"{v}\"}},\"kind\":\"ConfigMap\"}}\n"),
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}\n".to_string(),
        format!(
            "clusters:\n- cluster:\n    certificate-authority-data: {cert}\n    server: https://10.0.0.1:6443\n"
        ),
        format!("metadata:\n  name: x\n  uid: {}\n", crate::support::uuid(g)),
        "{\"auths\":{\"ghcr.io\":{\"auth\":\"\"}}}\n".to_string(),
        format!("{{\"auth\": \"{}\"}}\n", STANDARD.encode(g.pick(ALNUM, 12))),
        "$ ps -u root\n$ sort -u names.txt\n".to_string(),
        "Authorization: failed for user bob\n".to_string(),
        "authorization: ${AUTH_HEADER}\n".to_string(),
        format!(
            "kind: Secret\nmetadata:\n  name: {}\ntype: Opaque\n",
            g.pick(b"abcdefghij", 8)
        ),
    ]
}
