#!/usr/bin/env bash
# The security fuzz targets (fuzz/security/, built by mk/security.mk) inside
# `make test`: first every regression input of a target's corpus
# (fuzz/security/corpus/NAME/regress_*) replayed one by one, then a few
# seconds (FUZZ_SMOKE_SECONDS, default 3) of fuzzing from the corpus. A
# crash, leak or sanitizer report fails it. Last line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SMOKE_SECONDS:-3}
passed=0 failed=0
for src in fuzz/security/*.c; do
  name=$(basename "$src" .c)
  bin=$PWD/build/security/fuzz/$name
  corpus=$PWD/fuzz/security/corpus/$name
  work=$(mktemp -d /tmp/joey-secfuzz.XXXXXX)
  if [ ! -x "$bin" ]; then
    echo "FAIL fuzz $name: not built"; failed=$((failed + 1)); rm -rf "$work"; continue
  fi
  for input in "$corpus"/regress_*; do
    [ -e "$input" ] || continue
    if (cd "$work" && timeout 60 "$bin" "$input") >"$work/log" 2>&1; then
      echo "PASS regression $name/$(basename "$input")"; passed=$((passed + 1))
    else
      echo "FAIL regression $name/$(basename "$input")"; grep -E 'ERROR|SUMMARY|#[0-9] ' "$work/log" | head -12
      failed=$((failed + 1))
    fi
  done
  if (cd "$work" && timeout $((secs + 60)) "$bin" -max_total_time="$secs" -max_len=65536 \
      -rss_limit_mb=4096 -print_final_stats=1 "$work" "$corpus") >"$work/log" 2>&1; then
    echo "PASS fuzz $name ($(awk '/stat::number_of_executed_units/ {print $2}' "$work/log") runs in ${secs}s)"
    passed=$((passed + 1))
  else
    echo "FAIL fuzz $name"; grep -E 'ERROR|SUMMARY|#[0-9] ' "$work/log" | head -12; failed=$((failed + 1))
  fi
  rm -rf "$work"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
