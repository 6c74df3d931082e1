#!/usr/bin/env bash
# Runs every suite in tests/suites/ (sorted) and prints one closing line
# "N passed, N failed, N skipped" summing them all. A suite is a script that
# prints what it likes and writes "<passed> <failed> <skipped>" to
# $JOEY_RESULT_FILE. A suite that writes nothing counts as one failure.
# SUITES="20-vmm 50-deno" runs a subset.
set -uo pipefail
cd "$(dirname "$0")/.."
results_dir=$(mktemp -d)
trap 'rm -rf "$results_dir"' EXIT
total_passed=0 total_failed=0 total_skipped=0
for suite in tests/suites/*.sh; do
  name=$(basename "$suite" .sh)
  if [ -n "${SUITES:-}" ] && ! grep -qw -- "$name" <<<"$SUITES"; then continue; fi
  echo "=== suite $name"
  export JOEY_RESULT_FILE="$results_dir/$name"
  start=$(date +%s)
  bash "$suite"
  rc=$?
  if [ -s "$JOEY_RESULT_FILE" ]; then
    read -r p f s <"$JOEY_RESULT_FILE"
  else
    echo "suite $name wrote no result (exit $rc)"
    p=0 f=1 s=0
  fi
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then f=1; fi
  echo "=== suite $name: $p passed, $f failed, ${s:-0} skipped ($(( $(date +%s) - start ))s)"
  total_passed=$((total_passed + p)); total_failed=$((total_failed + f)); total_skipped=$((total_skipped + ${s:-0}))
done
mkdir -p build
echo "$total_passed passed, $total_failed failed, $total_skipped skipped" | tee build/test-summary.txt
[ "$total_failed" -eq 0 ]
