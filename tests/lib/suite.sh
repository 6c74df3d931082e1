# Helpers for tests/suites/*.sh. Source it; then call suite_result or
# deno_suite. Suites run from the repository root.
: "${JOEY_RESULT_FILE:=/dev/null}"
DENO="${JOEY_DENO:-$PWD/.tools/bin/deno}"
export DENO_DIR="${DENO_DIR:-$PWD/.cache/deno}"

# suite_result PASSED FAILED [SKIPPED]
suite_result() { echo "$1 $2 ${3:-0}" >"$JOEY_RESULT_FILE"; }

# deno_suite PATH... : runs deno test over the paths and records its counts.
deno_suite() {
  local log
  log=$(mktemp)
  NO_COLOR=1 "$DENO" test -A --no-check=remote "$@" 2>&1 | tee "$log"
  # Deno's summary: "ok | 12 passed (3 steps) | 0 failed | 2 ignored (4s)"
  local line passed failed ignored
  line=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -1)
  passed=$(sed -nE 's/.*\| ([0-9]+) passed.*/\1/p' <<<"$line")
  failed=$(sed -nE 's/.*\| ([0-9]+) failed.*/\1/p' <<<"$line")
  ignored=$(sed -nE 's/.*\| ([0-9]+) ignored.*/\1/p' <<<"$line")
  rm -f "$log"
  if [ -z "$line" ]; then suite_result 0 1 0; return 1; fi
  suite_result "${passed:-0}" "${failed:-0}" "${ignored:-0}"
  [ "${failed:-0}" -eq 0 ]
}

# c_suite BINARY... : runs C test binaries that print "N passed, N failed"
# as their last line (tests/vmm/harness), summing them.
c_suite() {
  local p=0 f=0 s=0 bin out line
  for bin in "$@"; do
    out=$(mktemp)
    timeout 600 "$bin" 2>&1 | tee "$out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
    if [ -z "$line" ]; then f=$((f + 1)); echo "c_suite: $bin gave no summary"; else
      p=$((p + $(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")))
      f=$((f + $(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")))
      s=$((s + $(sed -nE 's/.*, ([0-9]+) skipped.*/\1/p' <<<"$line" | grep . || echo 0)))
    fi
    rm -f "$out"
  done
  suite_result "$p" "$f" "$s"
  [ "$f" -eq 0 ]
}
