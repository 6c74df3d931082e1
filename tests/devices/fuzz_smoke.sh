#!/usr/bin/env bash
# Runs every libFuzzer target of fuzz/ for a few seconds (FUZZ_SMOKE_SECONDS,
# default 3) from its corpus; a crash, leak or sanitizer report fails it.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SMOKE_SECONDS:-3}
passed=0 failed=0
for src in fuzz/*.c; do
  name=$(basename "$src" .c)
  bin=build/devices/fuzz/$name
  work=$(mktemp -d /tmp/joey-fuzz.XXXXXX)
  if [ ! -x "$bin" ]; then echo "FAIL fuzz $name: not built"; failed=$((failed+1)); rm -rf "$work"; continue; fi
  if (cd "$work" && "$OLDPWD/$bin" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
      "$work" "$OLDPWD/fuzz/corpus/$name") >"$work/log" 2>&1; then
    echo "PASS fuzz $name ($(grep -E 'stat::number_of_executed_units' "$work/log" | awk '{print $2}') runs in ${secs}s)"
    passed=$((passed+1))
  else
    echo "FAIL fuzz $name"; tail -30 "$work/log"; failed=$((failed+1))
  fi
  rm -rf "$work"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
