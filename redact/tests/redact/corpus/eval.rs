//! Recall per family (≥ 0.98) and zero findings on look-alikes. Run with `--nocapture` to
//! print the table BENCHMARKS.md quotes:
//! `cargo test -p redact --test redact corpus -- --nocapture`.

use std::collections::BTreeMap;

use super::families::{Place, families, lines};
use super::k8s;
use crate::support::{Gen, contains, decoys, redactor};

/// Seeds per family generator; each seed plants the token in every context of its family.
const SEEDS: u64 = 25;

#[test]
fn corpus_recall_per_family_and_no_false_positive() {
    let r = redactor();
    let mut recall: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    for fam in families() {
        for seed in 0..SEEDS {
            let mut g = Gen::new(seed * 7919 + fam.rule.len() as u64);
            let (token, secret) = (fam.token)(&mut g);
            for (ctx, line) in lines(fam.place, &token) {
                let (out, findings) = r.redact_all(line.as_bytes());
                let hit = !contains(&out, &secret) && findings.iter().any(|f| &*f.rule == fam.rule);
                let e = recall.entry(fam.rule).or_default();
                e.0 += usize::from(hit);
                e.1 += 1;
                if !hit && misses.len() < 20 {
                    let rules: Vec<&str> = findings.iter().map(|f| &*f.rule).collect();
                    misses.push(format!(
                        "{} in {ctx}: {rules:?} {}",
                        fam.rule,
                        line.get(..50).unwrap_or(&line)
                    ));
                }
            }
        }
    }
    println!("| rule | found / planted | recall |");
    println!("|---|---:|---:|");
    for (rule, (hit, all)) in &recall {
        println!(
            "| `{rule}` | {hit} / {all} | {:.3} |",
            *hit as f64 / *all as f64
        );
    }
    let lookalikes = lookalikes();
    let mut false_positives = Vec::new();
    for line in &lookalikes {
        let (out, findings) = r.redact_all(line.as_bytes());
        if !findings.is_empty() || out != line.as_bytes() {
            let rules: Vec<&str> = findings.iter().map(|f| &*f.rule).collect();
            false_positives.push(format!(
                "{rules:?} on {:?}",
                line.get(..60.min(line.len())).unwrap_or(line)
            ));
        }
    }
    println!(
        "look-alikes: {}, false positives: {}",
        lookalikes.len(),
        false_positives.len()
    );
    let low: Vec<_> = recall
        .iter()
        .filter(|(_, (hit, all))| (*hit as f64) < 0.98 * *all as f64)
        .collect();
    assert!(
        low.is_empty(),
        "recall under 0.98: {low:?}; first misses: {misses:#?}"
    );
    assert!(false_positives.is_empty(), "{false_positives:#?}");
}

/// Placeholders and near misses of every prefixed family in every context, keyed tokens
/// under a neutral key, and the Kubernetes and log look-alikes.
fn lookalikes() -> Vec<String> {
    let mut out = Vec::new();
    for fam in families() {
        for seed in 0..4 {
            let mut g = Gen::new(seed + 1000);
            let (token, _) = (fam.token)(&mut g);
            let variants = match fam.place {
                Place::Prefixed => {
                    let keep = 10.min(token.len() / 3);
                    let filler: String = token
                        .char_indices()
                        .map(|(i, c)| match i >= keep && c.is_ascii_alphanumeric() {
                            true => 'X',
                            false => c,
                        })
                        .collect();
                    let example = format!("{}EXAMPLE", &token[..token.len() - 7]);
                    let short = format!("{}{}", &token[..keep], g.pick(b"abcdef012345", 6));
                    vec![filler, example, short]
                }
                Place::Keyed(_) => vec![token],
                Place::Custom(_) => Vec::new(),
            };
            for v in variants {
                out.extend(lines(Place::Prefixed, &v).into_iter().map(|(_, l)| l));
            }
        }
    }
    for seed in 0..40 {
        let mut g = Gen::new(seed);
        out.extend(k8s::lookalikes(&mut g));
        out.extend(decoys(&mut g));
    }
    out
}
