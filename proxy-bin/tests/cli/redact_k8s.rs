//! `kubewitness redact` on what `kubectl get secret -o yaml`, `kubectl config view --raw`
//! and a docker config print: afterwards no base64 run in the output decodes to a secret.
//! Every secret is assembled at run time from a seed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::kubewitness;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A deterministic random string (xorshift64*).
fn random(seed: &mut u64, n: usize) -> String {
    (0..n)
        .map(|_| {
            *seed ^= *seed >> 12;
            *seed ^= *seed << 25;
            *seed ^= *seed >> 27;
            let r = seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
            ALNUM[(r % ALNUM.len() as u64) as usize] as char
        })
        .collect()
}

fn private_key(seed: &mut u64) -> (String, Vec<String>) {
    let label = ["EC PRIV", "ATE KEY"].concat();
    let body: Vec<String> = (0..4).map(|_| random(seed, 64)).collect();
    let pem = format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        body.join("\n")
    );
    (pem, body)
}

/// Every run of 8+ base64 characters in `text`, decoded where it decodes.
fn decoded_runs(text: &str) -> Vec<Vec<u8>> {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    text.split(|c: char| !is_b64(c))
        .filter(|run| run.len() >= 8)
        .filter_map(|run| {
            let whole = run.len() / 4 * 4;
            STANDARD.decode(&run[..whole]).ok()
        })
        .collect()
}

#[test]
fn redact_leaves_no_decodable_secret_in_secrets_kubeconfigs_and_docker_configs() {
    let mut seed = 0x5eed_u64;
    let password = random(&mut seed, 20);
    let (key_pem, key_lines) = private_key(&mut seed);
    let (client_pem, client_lines) = private_key(&mut seed);
    let registry_password = random(&mut seed, 24);
    let auth = STANDARD.encode(format!("robot:{registry_password}"));
    let docker = format!("{{\"auths\":{{\"registry.example.net\":{{\"auth\":\"{auth}\"}}}}}}");
    let cert = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        random(&mut seed, 64)
    );
    let b64 = |s: &str| STANDARD.encode(s);
    let secret_yaml = format!(
        "apiVersion: v1\ndata:\n  .dockerconfigjson: {}\n  password: {}\n  tls.key: {}\n  username: {}\nkind: Secret\nmetadata:\n  name: app\n  namespace: prod\ntype: Opaque\n",
        b64(&docker),
        b64(&password),
        b64(&key_pem),
        b64("admin"),
    );
    let kubeconfig = format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: https://10.0.0.1:6443\n  name: prod\nkind: Config\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&cert),
        b64(&cert),
        b64(&client_pem),
    );
    let docker_json = format!(
        "{{\n  \"auths\": {{\n    \"ghcr.io\": {{\n      \"auth\": \"{auth}\"\n    }}\n  }}\n}}\n"
    );
    let input = format!("{secret_yaml}---\n{kubeconfig}---\n{docker_json}");

    let (code, out, err) = kubewitness(&["redact", "--findings", "json"], input.as_bytes());
    assert_eq!(code, Some(0), "{err}");

    let secrets: Vec<&str> = [password.as_str(), registry_password.as_str()]
        .into_iter()
        .chain(key_lines.iter().map(String::as_str))
        .chain(client_lines.iter().map(String::as_str))
        .collect();
    let private = ["PRIV", "ATE KEY"].concat();
    for s in &secrets {
        assert!(!out.contains(s), "a secret survived in plain text:\n{out}");
    }
    for decoded in decoded_runs(&out) {
        let text = String::from_utf8_lossy(&decoded);
        for s in &secrets {
            assert!(!text.contains(s), "a decodable secret survived:\n{out}");
        }
        assert!(
            !text.contains(&private),
            "a decodable private key survived:\n{out}"
        );
        assert!(
            !text.contains("\"auths\""),
            "a docker config survived:\n{out}"
        );
    }
    // What is public stays readable: the CA and the client certificate, names, the server.
    assert!(out.contains(&b64(&cert)));
    assert!(out.contains("server: https://10.0.0.1:6443"));
    assert!(out.contains("name: app"));

    let rules: Vec<String> = err
        .lines()
        .map(|l| {
            let f: serde_json::Value = serde_json::from_str(l).expect("a JSON finding per line");
            f["rule"]
                .as_str()
                .expect("every finding names its rule")
                .to_string()
        })
        .collect();
    for want in [
        "kubernetes-secret-data",
        "base64-private-key",
        "docker-config-auth",
    ] {
        assert!(
            rules.iter().any(|r| r == want),
            "no {want} finding in {rules:?}"
        );
    }
    assert!(!err.contains(&password) && !err.contains(&registry_password));
}
