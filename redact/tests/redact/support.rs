//! Synthetic secrets, assembled at run time from a seed: no literal in this
//! repository looks like a live credential.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use redact::{Finding, Redactor, RedactorBuilder};

/// A tiny deterministic generator (xorshift64*).
pub(crate) struct Gen(u64);

impl Gen {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn pick(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char)
            .collect()
    }

    pub(crate) fn alnum(&mut self, n: usize) -> String {
        // Mixed classes guarantee a digit, as real tokens nearly always have.
        let mut s = self.pick(ALNUM, n - 1);
        s.insert(n / 2, char::from(b'0' + (self.next() % 10) as u8));
        s
    }
}

pub(crate) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub(crate) const UPPER_DIGIT: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub(crate) const B64URL: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
pub(crate) const HEX: &[u8] = b"0123456789abcdef";

/// A planted secret: the text to embed, the value that must not survive and
/// the rule expected to report it.
pub(crate) struct Planted {
    pub(crate) text: String,
    pub(crate) secret: String,
    pub(crate) rule: &'static str,
}

fn planted(text: String, secret: String, rule: &'static str) -> Planted {
    Planted { text, secret, rule }
}

/// Every kind of built-in secret, in a realistic line.
pub(crate) fn all_secrets(g: &mut Gen) -> Vec<Planted> {
    let mut v = Vec::new();
    let s = format!("{}{}", ["AK", "IA"].concat(), g.pick(UPPER_DIGIT, 16));
    v.push(planted(
        format!("export AWS_ACCESS_KEY_ID={s}\n"),
        s,
        "aws-access-key-id",
    ));
    let s = g.pick(ALNUM, 40);
    v.push(planted(
        format!("aws_secret_access_key = {s}\n"),
        s,
        "aws-secret-access-key",
    ));
    let random = g.pick(ALNUM, 30);
    let check = redact::github_checksum(random.as_bytes());
    let s = format!(
        "{}{random}{}",
        ["gh", "p_"].concat(),
        String::from_utf8_lossy(&check)
    );
    v.push(planted(format!("using {s} to clone\n"), s, "github-token"));
    let s = format!("{}{}", ["ya", "29."].concat(), g.pick(B64URL, 120));
    v.push(planted(
        format!("gcloud access token {s}\n"),
        s,
        "google-oauth-token",
    ));
    let s = format!(
        "{}{}_{}",
        ["github", "_pat_"].concat(),
        g.alnum(22),
        g.alnum(59)
    );
    v.push(planted(
        format!("GH_TOKEN is {s} now\n"),
        s,
        "github-fine-grained-token",
    ));
    let s = format!("{}{}", ["gl", "pat-"].concat(), g.alnum(20));
    v.push(planted(format!("PRIVATE-TOKEN: {s}\n"), s, "gitlab-token"));
    let s = format!(
        "{}{}-{}-{}",
        ["xo", "xb-"].concat(),
        g.pick(b"0123456789", 12),
        g.pick(b"0123456789", 12),
        g.alnum(24)
    );
    v.push(planted(format!("slack {s} posted\n"), s, "slack-token"));
    let s = format!(
        "T{}/B{}/{}",
        g.pick(UPPER_DIGIT, 8),
        g.pick(UPPER_DIGIT, 8),
        g.alnum(24)
    );
    v.push(planted(
        format!("POST https://hooks.slack.com/services/{s} 200\n"),
        s,
        "slack-webhook",
    ));
    let s = format!("{}{}", ["sk_", "live_"].concat(), g.alnum(24));
    v.push(planted(format!("stripe.api_key='{s}'\n"), s, "stripe-key"));
    let s = format!("{}{}", ["AI", "za"].concat(), g.pick(B64URL, 35));
    v.push(planted(
        format!("GET /maps?key={s}&q=1\n"),
        s,
        "google-api-key",
    ));
    let s = format!("{}{}", ["npm", "_"].concat(), g.alnum(36));
    v.push(planted(
        format!("//registry.npmjs.org/:_authToken={s}\n"),
        s,
        "npm-token",
    ));
    let s = format!("{}{}", ["sk-", "proj-"].concat(), g.alnum(48));
    v.push(planted(
        format!("OPENAI_API_KEY={s}\n"),
        s,
        "openai-api-key",
    ));
    let s = format!(
        "{}{}",
        ["sk-", "ant-api03-"].concat(),
        g.pick(B64URL, 80) + "7"
    );
    v.push(planted(format!("x-api-key: {s}\n"), s, "anthropic-api-key"));
    let s = format!(
        "{}{}.{}",
        ["S", "G."].concat(),
        g.pick(B64URL, 22),
        g.pick(B64URL, 43)
    );
    v.push(planted(
        format!("sendgrid key {s} loaded\n"),
        s,
        "sendgrid-api-key",
    ));
    let s = STANDARD.encode(g.pick(ALNUM, 64));
    v.push(planted(
        format!(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={s};EndpointSuffix=core\n"
        ),
        s,
        "azure-storage-key",
    ));
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload =
        URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"{}","exp":1700000000}}"#, g.alnum(12)));
    let s = format!("{header}.{payload}.{}", g.pick(B64URL, 43));
    v.push(planted(format!("cookie session={s}; Path=/\n"), s, "jwt"));
    let s = g.alnum(40);
    v.push(planted(
        format!("curl -H 'Authorization: Bearer {s}' https://api\n"),
        s,
        "bearer-token",
    ));
    let s = STANDARD.encode(format!("admin:{}", g.alnum(16)));
    v.push(planted(
        format!("Authorization: Basic {s}\r\n"),
        s,
        "basic-auth",
    ));
    let body: Vec<String> = (0..12)
        .map(|_| g.pick(B64URL, 64).replace(['-', '_'], "+"))
        .collect();
    let label = ["RSA PRIV", "ATE KEY"].concat();
    let pem = format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----",
        body.join("\n")
    );
    v.push(planted(format!("{pem}\n"), body[5].clone(), "private-key"));
    let body: Vec<String> = (0..8).map(|_| g.pick(ALNUM, 64)).collect();
    let label = ["PRIV", "ATE KEY"].concat();
    let json_pem = format!(
        "-----BEGIN {label}-----\\n{}\\n-----END {label}-----\\n",
        body.join("\\n")
    );
    let line = format!(
        "{{\"type\": \"service_account\", \"private_key_id\": \"{}\", \"private_key\": \"{json_pem}\"}}\n",
        g.pick(HEX, 40)
    );
    v.push(planted(line, body[3].clone(), "gcp-service-account-key"));
    let s = g.alnum(18);
    v.push(planted(
        format!("DATABASE_URL=postgres://app:{s}@db.svc:5432/app\n"),
        s,
        "url-password",
    ));
    let s = g.alnum(14);
    v.push(planted(
        format!("{{\"user\":\"bob\",\"password\":\"{s}\"}}\n"),
        s,
        "secret-assignment",
    ));
    let s = g.pick(b"abcdefghijklmnopqrstuvwxyz", 12);
    v.push(planted(
        format!("db:\n  password: {s}\n"),
        s,
        "secret-assignment",
    ));
    let s = g.alnum(32);
    v.push(planted(
        format!("X-Api-Key: {s}\n"),
        s,
        "high-entropy-secret",
    ));
    v.extend(crate::corpus::positives(g));
    v
}

/// A random version-4 UUID: an identifier, never a secret.
pub(crate) fn uuid(g: &mut Gen) -> String {
    let [a, b, c, d, e] = [8, 4, 3, 3, 12].map(|n| g.pick(HEX, n));
    format!("{a}-{b}-4{c}-a{d}-{e}")
}

/// Identifiers debugging needs; none of them may be masked.
pub(crate) fn decoys(g: &mut Gen) -> Vec<String> {
    vec![
        format!("request_id={} status=200\n", uuid(g)),
        format!("X-Request-Id: {}\n", uuid(g)),
        format!("trace_id={} span_id={}\n", g.pick(HEX, 32), g.pick(HEX, 16)),
        format!(
            "traceparent: 00-{}-{}-01\n",
            g.pick(HEX, 32),
            g.pick(HEX, 16)
        ),
        format!("image: registry.k8s.io/app@sha256:{}\n", g.pick(HEX, 64)),
        format!("digest: sha256:{}\n", g.pick(HEX, 64)),
        format!("commit {} (HEAD -> main)\n", g.pick(HEX, 40)),
        format!(
            "pod/web-{}-{} started\n",
            g.pick(b"bcdfghjklmnpqrstvwxz2456789", 10),
            g.pick(b"bcdfghjklmnpqrstvwxz2456789", 5)
        ),
        format!("ETag: \"{}\"\n", g.pick(HEX, 32)),
        format!("etag=W/\"{}\"\n", g.pick(HEX, 40)),
        format!("{{\"requestId\":\"{}\",\"level\":\"info\"}}\n", uuid(g)),
        format!("token_type: Bearer expires_in: 3600 session {}\n", uuid(g)),
        format!("secretName: db-credentials key_id: {}\n", g.pick(HEX, 20)),
        "error: invalid password: connection refused\n".to_string(),
        format!("nextPageToken: {}\n", uuid(g)),
        "visit https://kubernetes.io/docs/ and task-runner-sk-large\n".to_string(),
        "Keyboard layout set; PWD=/home/app OLDPWD=/root\n".to_string(),
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
            .to_string(),
    ]
}

/// The default redactor used by most tests.
pub(crate) fn redactor() -> Redactor {
    RedactorBuilder::new()
        .fingerprint_key(b"test deployment key")
        .build()
        .expect("builtin rules build")
}

/// Redacts `input` split at the given cut points.
pub(crate) fn chunked(r: &Redactor, input: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<Finding>) {
    let mut stream = r.stream();
    let (mut out, mut findings) = (Vec::new(), Vec::new());
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        let c = c.clamp(prev, input.len());
        stream.push(
            Bytes::copy_from_slice(&input[prev..c]),
            &mut out,
            &mut findings,
        );
        assert!(
            stream.held_bytes() <= r.max_carry(),
            "carry {} over bound",
            stream.held_bytes()
        );
        prev = c;
    }
    stream.finish(&mut out, &mut findings);
    (out.concat(), findings)
}

/// True when `needle` occurs in `hay`.
pub(crate) fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}
