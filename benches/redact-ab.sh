#!/usr/bin/env bash
# Redaction throughput of two versions of the `redact` crate, side by side in one run.
#
# Usage: benches/redact-ab.sh [BASE [HEAD]]
#   BASE  a commit (default 9b38992, the commit before the issue-16 coverage round)
#   HEAD  a commit (default: this working tree, committed or not)
#   ROUNDS (default 30) and PASSES (default 10) in the environment set the work: ROUNDS
#   alternations of the two binaries, A B A B …, each timing every input PASSES times.
#   KEEP=1 keeps the two binaries (the temp dir is printed), e.g. for `perf record`.
#
# The same measuring program, `benches/src/bin/redact-ab.rs` with this tree's corpora
# (`benches/src/corpus.rs`) and driver (`benches/src/redaction.rs`), is built --release
# twice in throwaway Cargo projects under a temp dir: once against BASE's `redact` (its
# `Cargo.toml` and `redact/` taken with `git archive`), once against HEAD's. Both use this
# tree's `Cargo.lock`, so every other crate is the same build. It prints what each side's
# redaction outputs, then per input and mode each side's median and best MiB/s and
# HEAD's ratios to BASE. Set CARGO_TARGET_DIR to reuse a build (default: ./target).
# Not part of CI (`.ci/run`): it measures, it does not check. About 15 s after the builds (a minute or two each on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
base_rev="${1:-9b38992}"
head_rev="${2:-}"
rounds="${ROUNDS:-30}"
passes="${PASSES:-10}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac

tmp="$(mktemp -d "${TMPDIR:-/tmp}/redact-ab.XXXXXX")"
if [ -n "${KEEP:-}" ]; then
  echo "keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi

# The `redact` crate of a commit, with the workspace manifest it inherits from.
checkout() {
  mkdir -p "$tmp/$1"
  git archive "$2" Cargo.toml redact | tar -x -C "$tmp/$1"
  echo "$tmp/$1/redact"
}

# A throwaway project: this tree's measuring program against the `redact` at $2.
project() {
  local side="$1" redact="$2" dir="$tmp/ab-$1"
  mkdir -p "$dir/src"
  cat >"$dir/Cargo.toml" <<EOF
[package]
name = "redact-ab-$side"
version = "0.0.0"
edition = "2024"
publish = false

[lib]
name = "kubewitness_benches"
path = "src/lib.rs"

[[bin]]
name = "redact-ab-$side"
path = "$repo/benches/src/bin/redact-ab.rs"

[dependencies]
redact = { path = "$redact" }
bytes = "1"

[profile.release]
debug = "line-tables-only"

[workspace]
EOF
  cat >"$dir/src/lib.rs" <<EOF
//! The parts of kubewitness-benches the measuring program uses.
#[path = "$repo/benches/src/corpus.rs"]
pub mod corpus;
#[path = "$repo/benches/src/redaction.rs"]
pub mod redaction;
#[path = "$repo/benches/src/stats.rs"]
pub mod stats;
EOF
  cp "$repo/Cargo.lock" "$dir/Cargo.lock"
  cargo build --release -q --manifest-path "$dir/Cargo.toml" --target-dir "$target_dir"
  cp "$target_dir/release/redact-ab-$side" "$tmp/redact-ab-$side"
}

base_src="$(checkout base "$base_rev")"
if [ -n "$head_rev" ]; then
  head_src="$(checkout head "$head_rev")"
  head_name="$(git rev-parse --short "$head_rev")"
else
  head_src="$repo/redact"
  head_name="working tree at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- redact || echo ', redact/ modified')"
fi
echo "building the measuring program against base $(git rev-parse --short "$base_rev") and head ($head_name)"
project base "$base_src"
project head "$head_src"

echo "== machine"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') × $(nproc)"
echo "rustc:   $(rustc --version)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (before)"

samples="$tmp/samples"
"$tmp/redact-ab-base" measure base 0 >"$samples"
"$tmp/redact-ab-head" measure head 0 >>"$samples"
for _ in $(seq "$rounds"); do
  "$tmp/redact-ab-base" measure base "$passes" | grep '^sample ' >>"$samples"
  "$tmp/redact-ab-head" measure head "$passes" | grep '^sample ' >>"$samples"
done
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (after)"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"

echo
echo "== what each side outputs (2 MiB inputs; the findings differ where the rules do)"
grep '^output ' "$samples" | sed 's/^output //'
echo
echo "== MiB/s, $rounds rounds × $passes passes per side (A B A B …); ratios are head / base"
"$tmp/redact-ab-head" summary "$samples"
