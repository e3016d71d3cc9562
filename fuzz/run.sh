#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 20) on its committed seed corpus
# plus whatever earlier runs left in fuzz/corpus/<target>/ (gitignored apart from seed-*),
# then prints the executions per target. Exits non-zero on the first finding (the crashing
# input is in fuzz/artifacts/<target>/).
#
#   fuzz/run.sh 20                    # all targets, 20 s each (CI)
#   fuzz/run.sh 600 redactor spdy_decoder   # chosen targets
#
# Works on stable: cargo-fuzz needs nightly flags, granted with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-20}"
shift || true
export RUSTC_BOOTSTRAP=1
# cargo-fuzz's default build: optimised, with debug assertions, overflow checks and ASan.
cargo fuzz build
if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
mkdir -p logs
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  printf '\n== fuzz %s for %ss\n' "$t" "$seconds"
  status=0
  cargo fuzz run "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=20 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"logs/$t.log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -1)
  summary+=("$(printf '%-20s %12s executions' "$t" "${execs:-?}")")
  if [ "$status" -ne 0 ]; then
    tail -40 "logs/$t.log"
    echo "fuzz target $t failed (exit $status); input in fuzz/artifacts/$t/" >&2
    printf '%s\n' "${summary[@]}"
    exit "$status"
  fi
done
printf '\n== executions\n'
printf '%s\n' "${summary[@]}"
