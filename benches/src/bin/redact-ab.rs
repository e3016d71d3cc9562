//! One side of `benches/redact-ab.sh`, the side-by-side redaction throughput comparison of
//! two versions of the `redact` crate. The script builds this same program against each
//! version and runs the two binaries in turn; this program measures and, at the end,
//! summarises what both measured.
//!
//! ```text
//! redact-ab measure SIDE [PASSES [ONLY…]]  one sample line per pass, input and mode
//! redact-ab summary FILE                  medians, bests and ratios of the samples in FILE
//! ```
//!
//! Inputs are the criterion bench's corpora ([`corpus::clean`] and
//! [`corpus::secret_per_kib`], 2 MiB each); the modes are `stream` (16 KiB `Bytes` chunks
//! through a `StreamRedactor`) and `whole` (`Redactor::redact_all`); ONLY names the inputs
//! and modes to run (all by default), e.g. `clean stream` for a profile. It uses std only
//! besides `redact` and `bytes`, so the script can build it outside this workspace.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use kubewitness_benches::corpus;
use kubewitness_benches::redaction::{self, CHUNK, Redacted, SIZE};
use kubewitness_benches::stats::{median, mib_per_s};
use redact::{Redactor, RedactorBuilder};

const USAGE: &str = "usage: redact-ab measure SIDE [PASSES [ONLY…]] | redact-ab summary FILE";
const INPUTS: [&str; 2] = ["clean", "secret_per_kib"];
const MODES: [&str; 2] = ["stream", "whole"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = match args.as_slice() {
        ["measure", side, rest @ ..] => {
            let passes = rest.first().map_or(Ok(10), |p| p.parse::<usize>());
            match passes {
                Ok(passes) => measure(side, passes, rest.get(1..).unwrap_or_default()),
                Err(e) => Err(format!("PASSES: {e}")),
            }
        }
        ["summary", file] => std::fs::read_to_string(file)
            .map_err(|e| format!("{file}: {e}"))
            .and_then(|text| summary(&text)),
        _ => Err(USAGE.to_string()),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redact-ab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(r: &Redactor, input: &Bytes, mode: &str) -> Redacted {
    match mode {
        "stream" => redaction::stream(r, input, CHUNK),
        _ => redaction::whole(r, input),
    }
}

/// The names of `all` that `only` selects: those it names, or all when it names none.
fn chosen<'a>(all: [&'a str; 2], only: &[&str]) -> Vec<&'a str> {
    let named: Vec<&str> = all.into_iter().filter(|a| only.contains(a)).collect();
    if named.is_empty() {
        all.to_vec()
    } else {
        named
    }
}

/// Prints `output` lines (what each input redacts to), then `PASSES` rounds of one
/// `sample` line per input and mode, after one unmeasured warm-up run of each.
fn measure(side: &str, passes: usize, only: &[&str]) -> Result<(), String> {
    if let Some(bad) = only
        .iter()
        .find(|o| !INPUTS.contains(o) && !MODES.contains(o))
    {
        return Err(format!("{bad}: ONLY names {INPUTS:?} and {MODES:?}"));
    }
    let (inputs, modes) = (chosen(INPUTS, only), chosen(MODES, only));
    let redactor = RedactorBuilder::new()
        .fingerprint_key(b"bench")
        .build()
        .map_err(|e| format!("building the redactor: {e}"))?;
    let inputs: Vec<(&str, Bytes)> = inputs
        .into_iter()
        .map(|name| {
            let data = match name {
                "clean" => corpus::clean(SIZE),
                _ => corpus::secret_per_kib(SIZE),
            };
            (name, Bytes::from(data))
        })
        .collect();
    for (name, input) in &inputs {
        for &mode in &modes {
            let out = run(&redactor, input, mode);
            println!(
                "output side={side} input={name} mode={mode} in_bytes={} out_bytes={} findings={}",
                input.len(),
                out.bytes,
                out.findings
            );
        }
    }
    for _ in 0..passes {
        for (name, input) in &inputs {
            for &mode in &modes {
                let start = Instant::now();
                black_box(run(&redactor, black_box(input), mode));
                let rate = mib_per_s(input.len() as u64, start.elapsed());
                println!("sample side={side} input={name} mode={mode} mib_s={rate:.1}");
            }
        }
    }
    Ok(())
}

/// `key=value` fields of a line.
fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|f| f.split_once('='))
        .collect()
}

/// Per input and mode: each side's median and best MiB/s and the second side's ratios to
/// the first's (sides in the order they first appear).
fn summary(text: &str) -> Result<(), String> {
    let mut sides: Vec<String> = Vec::new();
    let mut samples: BTreeMap<(String, String), BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("sample ")) {
        let f = fields(line);
        let (Some(side), Some(input), Some(mode), Some(rate)) =
            (f.get("side"), f.get("input"), f.get("mode"), f.get("mib_s"))
        else {
            return Err(format!("malformed sample line: {line}"));
        };
        let rate: f64 = rate.parse().map_err(|e| format!("{line}: {e}"))?;
        if !sides.iter().any(|s| s == side) {
            sides.push(side.to_string());
        }
        samples
            .entry((input.to_string(), mode.to_string()))
            .or_default()
            .entry(side.to_string())
            .or_default()
            .push(rate);
    }
    let [a, b] = sides.as_slice() else {
        return Err(format!("want samples of two sides, found {sides:?}"));
    };
    println!(
        "{:<15} {:<6} {:>5} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "input",
        "mode",
        "n",
        format!("{a} med"),
        format!("{a} best"),
        format!("{b} med"),
        format!("{b} best"),
        "med ×",
        "best ×"
    );
    for ((input, mode), by_side) in &samples {
        let stat = |side: &str| {
            let v = by_side.get(side).map_or(&[][..], Vec::as_slice);
            let best = v.iter().copied().fold(f64::NAN, f64::max);
            (v.len(), median(v).unwrap_or(f64::NAN), best)
        };
        let ((na, ma, ba), (nb, mb, bb)) = (stat(a), stat(b));
        println!(
            "{input:<15} {mode:<6} {:>5} {ma:>10.1} {ba:>10.1} {mb:>10.1} {bb:>10.1} {:>8.2} {:>8.2}",
            format!("{na}/{nb}"),
            mb / ma,
            bb / ba
        );
    }
    Ok(())
}
