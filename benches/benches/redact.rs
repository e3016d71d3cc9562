//! Streaming redaction throughput, against a naive `regex::bytes::RegexSet`
//! baseline over the same rules.
//!
//! Corpora (2 MiB each, fed in 16 KiB `Bytes` chunks like proxy frames):
//! - `clean`: log lines with decoys that must stay visible — UUIDs, trace and
//!   span ids, `sha256:` digests, git SHAs, pod names, ETags, URLs.
//! - `secret_per_kib`: the same text with one synthetic secret per KiB.
//! - `worst_*`: inputs built to hit the slow paths — dense trigger literals,
//!   repeated keys, an unterminated private key, a run of JWT-like segments.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-redact cargo bench -p kubewitness-benches --bench redact`
//! (the corpora and the stream driver are `kubewitness_benches::{corpus, redaction}`, which
//! `benches/redact-ab.sh` also builds against an older `redact` for a side-by-side run).
//! Medians on the 2-core shared dev machine under load (run B in
//! `BENCHMARKS.md`, section "redact", which has both runs and the ratios):
//! clean 1009 MiB/s (RegexSet 1.33), secret_per_kib 399 MiB/s (1.28),
//! worst_dense_triggers 90.5, worst_repeated_keys 146, worst_unterminated_pem
//! 671, worst_jwt_like 146 MiB/s.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kubewitness_benches::corpus::{ALNUM, Gen, clean, secret_per_kib};
use kubewitness_benches::redaction::{CHUNK, SIZE, stream};
use redact::RedactorBuilder;
use regex::bytes::{Regex, RegexSet, RegexSetBuilder};

fn repeat_to(unit: &str, size: usize) -> Vec<u8> {
    unit.repeat(size / unit.len() + 1).into_bytes()[..size].to_vec()
}

fn worst_cases(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let mut g = Gen(7);
    let pem_body: String = (0..size / 65 + 2)
        .map(|_| g.pick(ALNUM, 64) + "\n")
        .collect();
    let label = ["RSA PRIV", "ATE KEY"].concat();
    vec![
        (
            "worst_dense_triggers",
            repeat_to(
                "AKIA eyJ sk- ghp_ :// Bearer password token Key SG. xoxb- ",
                size,
            ),
        ),
        (
            "worst_repeated_keys",
            repeat_to("password=token=api_key:secret:", size),
        ),
        (
            "worst_unterminated_pem",
            format!("-----BEGIN {label}-----\n{pem_body}").into_bytes()[..size].to_vec(),
        ),
        (
            "worst_jwt_like",
            repeat_to(
                &format!(" eyJ{}.{}", g.pick(ALNUM, 30), g.pick(ALNUM, 9)),
                size,
            ),
        ),
    ]
}

/// The naive baseline: the same rules as one `RegexSet` plus one `Regex` each;
/// every chunk is tested with the set and rewritten by each matching regex.
struct Baseline {
    set: RegexSet,
    each: Vec<Regex>,
}

const BASELINE_RULES: &[&str] = &[
    r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
    r"\bgh[pousr]_[A-Za-z0-9]{36}\b",
    r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b",
    r"\bgl(?:pat|dt|rt|ptt|soat|ft|imt|cbt|oas)-[A-Za-z0-9_.\-]{20,80}",
    r"\bxox[bparse]-[A-Za-z0-9\-]{10,250}",
    r"hooks\.slack\.com/services/[A-Za-z0-9/]{20,120}",
    r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}",
    r"\bAIza[A-Za-z0-9_\-]{35}",
    r"\bya29\.[A-Za-z0-9_.\-]{20,}",
    r"\bnpm_[A-Za-z0-9]{36}",
    r"\bsk-[A-Za-z0-9_\-]{32,256}",
    r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}",
    r"(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/=]{20,128}",
    r"\beyJ[A-Za-z0-9_\-]{7,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]*",
    r"(?i)\b(?:bearer|basic) [A-Za-z0-9._~+/=\-]{8,}",
    r"-----BEGIN [A-Z0-9 ]{0,48}PRIVATE KEY-----(?s:.)*?-----END [A-Z0-9 ]{0,48}-----",
    r"[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^:@/\s]{0,256}:[^@/\s]{1,256}@",
    r#"(?i)(?:password|passwd|pwd|passphrase|secret|token|credential|api_?key|access_?key|private_?key)[A-Za-z0-9_.\-]{0,48}["']?\s{0,8}[:=]\s{0,8}["']?[^\s"',;&]{1,512}"#,
];

impl Baseline {
    fn new() -> Self {
        // Unbounded forms where the bounded ones exceed the default size limit:
        // the baseline does not stream, so it does not need the bounds.
        let set = RegexSetBuilder::new(BASELINE_RULES)
            .size_limit(1 << 28)
            .build()
            .expect("baseline set");
        let each = BASELINE_RULES
            .iter()
            .map(|r| Regex::new(r).expect("baseline regex"))
            .collect();
        Self { set, each }
    }

    fn redact(&self, input: &Bytes) -> usize {
        let mut total = 0;
        for chunk in input.chunks(CHUNK) {
            let hits = self.set.matches(chunk);
            if !hits.matched_any() {
                total += chunk.len();
                continue;
            }
            let mut text = chunk.to_vec();
            for i in hits.iter() {
                text = self.each[i]
                    .replace_all(&text, &b"[REDACTED]"[..])
                    .into_owned();
            }
            total += text.len();
        }
        total
    }
}

fn bench(c: &mut Criterion) {
    let redactor = RedactorBuilder::new()
        .fingerprint_key(b"bench")
        .build()
        .expect("redactor");
    let baseline = Baseline::new();
    let mut corpora = vec![
        ("clean", clean(SIZE)),
        ("secret_per_kib", secret_per_kib(SIZE)),
    ];
    corpora.extend(worst_cases(SIZE));
    let mut group = c.benchmark_group("redact");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(4));
    for (name, data) in corpora {
        let input = Bytes::from(data);
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::new("stream", name), &input, |b, i| {
            b.iter(|| black_box(stream(&redactor, i, CHUNK)))
        });
        group.bench_with_input(BenchmarkId::new("regexset", name), &input, |b, i| {
            b.iter(|| black_box(baseline.redact(i)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
