//! The labelled evaluation corpus: per credential family a token generator (tokens are
//! assembled at run time from documented formats; none is a literal in the repository) and
//! the lines it is planted in.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::support::{ALNUM, B64URL, Gen, HEX, uuid};

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BECH32: &[u8] = b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L";

/// How a family's token is placed in text.
#[derive(Clone, Copy)]
pub(crate) enum Place {
    /// A token with a distinctive prefix: six contexts with a neutral key (`value`).
    Prefixed,
    /// A token recognised by the key it is assigned to: five contexts with that key, and a
    /// log line with the key (`alone` is not detectable for these by design).
    Keyed(&'static str),
    /// A family with its own contexts (headers, commands, Secret manifests).
    Custom(fn(&str) -> Vec<String>),
}

/// One family: rule id, token generator, placement. `secret` is the part of the token
/// that must not survive (the whole token, or the credential after a visible part).
pub(crate) struct Family {
    pub(crate) rule: &'static str,
    pub(crate) token: fn(&mut Gen) -> (String, String),
    pub(crate) place: Place,
}

fn whole(s: String) -> (String, String) {
    (s.clone(), s)
}

fn cat(parts: &[&str]) -> String {
    parts.concat()
}

/// The lines a token is planted in, with a context label each.
pub(crate) fn lines(place: Place, token: &str) -> Vec<(&'static str, String)> {
    match place {
        Place::Prefixed => contexts("value", token, true),
        Place::Keyed(key) => contexts(key, token, false),
        Place::Custom(f) => f(token).into_iter().map(|l| ("custom", l)).collect(),
    }
}

fn contexts(key: &str, t: &str, alone: bool) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("key=value", format!("{key}={t}\n")),
        ("json", format!("{{\"{key}\":\"{t}\",\"n\":1}}\n")),
        ("yaml", format!("spec:\n  {key}: {t}\n")),
        (
            "url",
            format!("GET https://api.example.net/v1/items?{key}={t}&page=2 HTTP/1.1\n"),
        ),
        ("shell", format!("$ tool login --{key}={t} --verbose\n")),
    ];
    v.push(match alone {
        true => ("log", format!("2026-12-03T07:00:00Z INFO {t}\n")),
        false => ("log", format!("level=info msg=\"agent start\" {key}={t}\n")),
    });
    v
}

/// Every family of the corpus.
pub(crate) fn families() -> Vec<Family> {
    use Place::*;
    let f = |rule, token, place| Family { rule, token, place };
    vec![
        f(
            "azure-ad-client-secret",
            |g| {
                let tok = format!(
                    "{}{}{}",
                    g.pick(ALNUM, 3),
                    cat(&["8Q", "~"]),
                    g.pick(B64URL, 34)
                );
                (tok.clone(), tok[3..].to_string())
            },
            Prefixed,
        ),
        f(
            "azure-sas-signature",
            |g| {
                let sig = STANDARD.encode((0..32).map(|_| g.next() as u8).collect::<Vec<u8>>());
                let enc = sig
                    .replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D");
                (enc.clone(), enc)
            },
            Custom(sas_lines),
        ),
        f(
            "azure-storage-key",
            |g| whole(STANDARD.encode((0..64).map(|_| g.next() as u8).collect::<Vec<u8>>())),
            Keyed("AZURE_STORAGE_KEY"),
        ),
        f(
            "aws-session-token",
            |g| {
                whole(format!(
                    "{}{}",
                    cat(&["IQoJb3Jp", "Z2luX2Vj"]),
                    g.pick(B64, 300)
                ))
            },
            Prefixed,
        ),
        f(
            "gcp-oauth-client-secret",
            |g| whole(format!("{}{}", cat(&["GOC", "SPX-"]), g.pick(B64URL, 28))),
            Prefixed,
        ),
        f(
            "gcp-refresh-token",
            |g| whole(format!("{}{}", cat(&["1//0", "g"]), g.pick(B64URL, 98))),
            Prefixed,
        ),
        f(
            "vault-token",
            |g| whole(format!("{}{}", cat(&["hv", "s."]), g.pick(B64URL, 90))),
            Prefixed,
        ),
        f(
            "vault-token",
            |g| whole(format!("{}{}", cat(&["s", "."]), g.pick(ALNUM, 24))),
            Keyed("VAULT_TOKEN"),
        ),
        f(
            "openshift-token",
            // Masked from the `256~` anchor: `sha` stays.
            |g| {
                let tok = format!("{}{}", cat(&["sha256", "~"]), g.pick(B64URL, 43));
                (tok.clone(), tok[3..].to_string())
            },
            Prefixed,
        ),
        f(
            "gitlab-token",
            |g| {
                let p = [
                    "glagent-", "glcbt-", "glft-", "glrt-", "gldt-", "glsoat-", "glffct-",
                ];
                whole(format!(
                    "{}{}",
                    p[(g.next() % 7) as usize],
                    g.pick(B64URL, 50)
                ))
            },
            Prefixed,
        ),
        f(
            "grafana-token",
            |g| {
                whole(format!(
                    "{}{}_{}",
                    cat(&["gl", "sa_"]),
                    g.pick(ALNUM, 32),
                    g.pick(HEX, 8)
                ))
            },
            Prefixed,
        ),
        f(
            "grafana-token",
            |g| whole(format!("{}{}", cat(&["gl", "c_"]), g.pick(B64, 120))),
            Prefixed,
        ),
        f(
            "datadog-api-key",
            |g| whole(g.pick(HEX, 32)),
            Keyed("DD_API_KEY"),
        ),
        f(
            "datadog-api-key",
            |g| whole(g.pick(HEX, 40)),
            Keyed("datadog_app_key"),
        ),
        f(
            "new-relic-key",
            |g| {
                whole(format!(
                    "{}{}",
                    cat(&["NR", "AK-"]),
                    g.pick(UPPER_ALNUM, 27)
                ))
            },
            Prefixed,
        ),
        f(
            "new-relic-key",
            |g| whole(format!("{}{}", cat(&["NR", "II-"]), g.pick(B64URL, 32))),
            Prefixed,
        ),
        f(
            "new-relic-key",
            |g| whole(format!("{}{}", g.pick(HEX, 36), "NRAL")),
            Keyed("NEW_RELIC_LICENSE_KEY"),
        ),
        f(
            "sentry-token",
            |g| whole(format!("{}{}", cat(&["sntr", "yu_"]), g.pick(HEX, 64))),
            Prefixed,
        ),
        f(
            "sentry-token",
            |g| {
                let claims = STANDARD.encode(format!(
                    "{{\"iat\":1700000000,\"url\":\"https://sentry.io\",\"org\":\"{}\"}}",
                    g.pick(LETTERS, 8)
                ));
                whole(format!(
                    "{}{}_{}",
                    cat(&["sntr", "ys_"]),
                    claims.trim_end_matches('='),
                    g.pick(B64URL, 43).replace('-', "A")
                ))
            },
            Prefixed,
        ),
        f(
            "databricks-token",
            |g| whole(format!("{}{}", cat(&["da", "pi"]), g.pick(HEX, 32))),
            Prefixed,
        ),
        f(
            "huggingface-token",
            // `api_org_` is masked from the `_org_` anchor.
            |g| match g.next() % 2 {
                0 => whole(format!("{}{}", cat(&["h", "f_"]), g.pick(LETTERS, 34))),
                _ => {
                    let tok = format!("{}{}", cat(&["api_", "org_"]), g.pick(LETTERS, 34));
                    (tok.clone(), tok[3..].to_string())
                }
            },
            Prefixed,
        ),
        f(
            "heroku-api-key",
            |g| whole(format!("{}{}", cat(&["HR", "KU-"]), g.pick(B64URL, 60))),
            Prefixed,
        ),
        f(
            "heroku-api-key",
            |g| whole(uuid(g)),
            Keyed("HEROKU_API_KEY"),
        ),
        f(
            "onepassword-token",
            |g| {
                let body = STANDARD.encode(format!("{{\"signInAddress\":\"my.1password.com\",\"userAuth\":{{\"method\":\"SRPg-4096\",\"alg\":\"PBES2g-HS256\",\"iterations\":650000,\"salt\":\"{}\"}},\"email\":\"{}@1passwordserviceaccounts.com\",\"srpX\":\"{}\"}}", g.pick(B64URL, 22), g.pick(LETTERS, 12), g.pick(HEX, 64)));
                whole(format!(
                    "{}{}",
                    cat(&["op", "s_"]),
                    body.trim_end_matches('=')
                ))
            },
            Prefixed,
        ),
        f(
            "digitalocean-token",
            |g| {
                let p = ["dop_v1_", "doo_v1_", "dor_v1_"][(g.next() % 3) as usize];
                // Masked from the `_v1_` anchor.
                let tok = format!("{p}{}", g.pick(HEX, 64));
                (tok.clone(), tok[3..].to_string())
            },
            Prefixed,
        ),
        f(
            "cloudflare-api-token",
            |g| whole(g.pick(B64URL, 40)),
            Keyed("CLOUDFLARE_API_TOKEN"),
        ),
        f(
            "cloudflare-api-token",
            |g| whole(g.pick(HEX, 37)),
            Keyed("CF_API_KEY"),
        ),
        f(
            "doppler-token",
            |g| {
                let p = ["dp.pt.", "dp.st.", "dp.sa.", "dp.ct."][(g.next() % 4) as usize];
                whole(format!("{p}{}", g.pick(ALNUM, 43)))
            },
            Prefixed,
        ),
        f(
            "pulumi-token",
            |g| whole(format!("{}{}", cat(&["pu", "l-"]), g.pick(HEX, 40))),
            Prefixed,
        ),
        f(
            "terraform-cloud-token",
            |g| {
                let tok = format!(
                    "{}{}{}",
                    g.pick(ALNUM, 14),
                    cat(&[".atlas", "v1."]),
                    g.pick(ALNUM, 67)
                );
                (tok.clone(), tok[14..].to_string())
            },
            Prefixed,
        ),
        f(
            "planetscale-token",
            |g| {
                let p = ["pscale_tkn_", "pscale_pw_", "pscale_oauth_"][(g.next() % 3) as usize];
                whole(format!("{p}{}", g.pick(B64URL, 43)))
            },
            Prefixed,
        ),
        f(
            "age-secret-key",
            |g| {
                whole(format!(
                    "{}{}",
                    cat(&["AGE-SECRET", "-KEY-1"]),
                    g.pick(BECH32, 58)
                ))
            },
            Prefixed,
        ),
        f(
            "slack-webhook",
            |g| {
                let kind = ["workflows", "triggers"][(g.next() % 2) as usize];
                let path = format!(
                    "T{}/A{}/{}/{}",
                    g.pick(UPPER_ALNUM, 10),
                    g.pick(UPPER_ALNUM, 10),
                    g.pick(b"0123456789", 18),
                    g.pick(ALNUM, 32)
                );
                (format!("https://hooks.slack.com/{kind}/{path}"), path)
            },
            Prefixed,
        ),
        f(
            "teams-webhook",
            |g| {
                let path = format!(
                    "{}@{}/IncomingWebhook/{}/{}",
                    uuid(g),
                    uuid(g),
                    g.pick(HEX, 32),
                    uuid(g)
                );
                (
                    format!("https://contoso.webhook.office.com/webhookb2/{path}"),
                    path,
                )
            },
            Prefixed,
        ),
        f(
            "discord-webhook",
            |g| {
                let path = format!("{}/{}", g.pick(b"0123456789", 19), g.pick(B64URL, 68));
                (format!("https://discord.com/api/webhooks/{path}"), path)
            },
            Prefixed,
        ),
        f(
            "authorization-header",
            |g| {
                let cred = match g.next() % 3 {
                    0 => format!("Token {}", g.pick(ALNUM, 40)),
                    1 => format!("ApiKey {}", g.pick(B64URL, 48)),
                    _ => format!(
                        "AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
                        g.pick(HEX, 64)
                    ),
                };
                let secret = cred
                    .rsplit([' ', '='])
                    .next()
                    .unwrap_or_default()
                    .to_string();
                (cred, secret)
            },
            Custom(authorization_lines),
        ),
        f(
            "curl-user-password",
            |g| whole(g.pick(ALNUM, 20)),
            Custom(curl_lines),
        ),
        f(
            "kubernetes-secret-data",
            |g| whole(STANDARD.encode(g.pick(ALNUM, 24))),
            Custom(super::k8s::secret_lines),
        ),
        f(
            "base64-private-key",
            |g| whole(super::k8s::b64_pem(g)),
            Custom(super::k8s::b64_pem_lines),
        ),
        f(
            "docker-config-auth",
            |g| whole(STANDARD.encode(format!("robot:{}", g.pick(ALNUM, 32)))),
            Custom(super::k8s::docker_lines),
        ),
    ]
}

fn sas_lines(sig: &str) -> Vec<String> {
    let q = format!("sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2026-12-31T00:00:00Z&sig={sig}");
    vec![
        format!("AZURE_SAS_URL=https://acct.blob.core.windows.net/backups?{q}\n"),
        format!("{{\"sasUrl\":\"https://acct.blob.core.windows.net/c/b.tar?{q}\"}}\n"),
        format!("backup:\n  url: https://acct.blob.core.windows.net/c?{q}\n"),
        format!("GET /c/b.tar?{q} HTTP/1.1\n"),
        format!("$ azcopy copy 'https://acct.blob.core.windows.net/c?{q}' .\n"),
        format!("2026-12-03T07:00:00Z INFO uploading with sig={sig} done\n"),
    ]
}

fn authorization_lines(cred: &str) -> Vec<String> {
    vec![
        format!("Authorization: {cred}\r\n"),
        format!("{{\"headers\":{{\"Authorization\":\"{cred}\"}}}}\n"),
        format!("headers:\n  authorization: {cred}\n"),
        format!("$ curl -H 'Authorization: {cred}' https://api.example.net/v1\n"),
        format!("2026-12-03T07:00:00Z DEBUG request header authorization: {cred}\n"),
        format!("> GET /v1 HTTP/1.1\n> Authorization: {cred}\n"),
    ]
}

fn curl_lines(pw: &str) -> Vec<String> {
    vec![
        format!("$ curl -u admin:{pw} https://registry.example.net/v2/\n"),
        format!("$ curl -s --user 'deploy:{pw}' https://api.example.net\n"),
        format!("$ curl --user=ci:{pw} -X POST https://hooks.example.net\n"),
        format!("{{\"cmd\":\"curl -fsS -u bot:{pw} https://nexus/repo\"}}\n"),
        format!("command: curl -u backup:{pw} ftp://files/\n"),
        format!("2026-12-03T07:00:00Z INFO running curl -u svc:{pw} http://api\n"),
    ]
}
