#!/usr/bin/env bash
# The end-to-end comparison, side by side in one run: the simulated API server directly,
# kubewitness with everything on, kubewitness with nothing on, and `kubectl proxy
# --reject-paths='^$'`, all in front of the same simulated API server, A/B interleaved.
# Then N = 1, 100, 1000 concurrent sessions, one process per run (direct, then kubewitness),
# for idle memory per session and peak RSS.
#
# Usage: benches/compare.sh [kw-bench compare flags, e.g. --repeat 3 --no-kubectl]
# Takes about 5 minutes on 2 cores. Set CARGO_TARGET_DIR to reuse a build.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"

# The bench profile, so `cargo bench` and this script share one build.
cargo build --profile bench -q -p kubewitness-benches --bin kw-bench
bin="$target_dir/release/kw-bench"

echo "== machine"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty)')"
echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') × $(nproc)"
echo "kernel:  $(uname -r)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rustc:   $(rustc --version)"
if command -v kubectl >/dev/null; then
  echo "kubectl: $(kubectl version --client 2>/dev/null | head -1)"
else
  echo "kubectl: not found, its leg is skipped"
  set -- "$@" --no-kubectl
fi

echo
echo "== throughput, time to first byte, round trips (interleaved)"
"$bin" compare "$@"

echo
echo "== concurrency (one process per run; memory is the whole bench process)"
for n in 1 100 1000; do
  for t in direct kubewitness; do
    "$bin" concurrency --target "$t" --sessions "$n" | tee -a "${TMPDIR:-/tmp}/kw-bench-concurrency.$$"
  done
done
echo
echo "kubewitness's own idle memory per session = (kubewitness run − direct run) per session:"
awk '
  /^concurrency/ {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    per[f["target"], f["sessions"]] = f["idle_kib_per_session"]
    peak[f["target"], f["sessions"]] = f["peak_kib"]
    errs[f["target"], f["sessions"]] = f["errors"]
    if (!(f["sessions"] in seen)) { seen[f["sessions"]] = 1; order[++k] = f["sessions"] }
  }
  END {
    printf "%9s %14s %14s %14s %12s %12s\n", "sessions", "direct KiB/ses", "kw KiB/ses", "added KiB/ses", "kw peak MiB", "kw errors"
    for (j = 1; j <= k; j++) {
      n = order[j]
      printf "%9s %14.1f %14.1f %14.1f %12.1f %12s\n", n, per["direct", n], per["kubewitness", n],
        per["kubewitness", n] - per["direct", n], peak["kubewitness", n] / 1024, errs["kubewitness", n]
    }
  }' "${TMPDIR:-/tmp}/kw-bench-concurrency.$$"
rm -f "${TMPDIR:-/tmp}/kw-bench-concurrency.$$"
