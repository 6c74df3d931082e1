#!/usr/bin/env bash
# Guest artefacts: the kernel build is cached (a second make is a no-op),
# the kernel config holds every fragment option, the agent is static and
# under 1 MiB stripped, and the initrd is reproducible byte for byte.
# Prints "N passed, N failed" last.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=build/guest
passed=0 failed=0
check() { if eval "$2"; then echo "PASS $1"; passed=$((passed + 1)); else echo "FAIL $1"; failed=$((failed + 1)); fi; }

t0=$SECONDS
out=$(make -s guest-kernel 2>&1)
check "make guest-kernel is cached when nothing changed" '[ -z "$out" ] && [ $((SECONDS - t0)) -lt 10 ]'
missing=$(grep -E '^CONFIG_[A-Z0-9_]+=' guest/kernel/microvm.config | while read -r l; do
  grep -qxF "$l" $B/kernel/config || echo "$l"; done)
check "kernel config has every fragment option${missing:+ (missing: $missing)}" '[ -z "$missing" ]'
check "kernel has no module support, PCI or ACPI" \
  '! grep -qE "^CONFIG_(MODULES|PCI|ACPI)=y" $B/kernel/config'
size=$(stat -c %s $B/agent/joey-agent)
echo "agent: $size bytes stripped"
check "agent under 1 MiB stripped ($size bytes)" '[ "$size" -lt 1048576 ]'
check "agent is statically linked" 'file $B/agent/joey-agent | grep -q "statically linked"'
tmp=$(mktemp -d)
bash guest/image/build.sh "$tmp/a.img" $B/agent/joey-agent >/dev/null
sleep 1
bash guest/image/build.sh "$tmp/b.img" $B/agent/joey-agent >/dev/null
check "initrd is reproducible" 'cmp -s "$tmp/a.img" "$tmp/b.img"'
check "initrd holds the agent as /init" \
  'zcat "$tmp/a.img" | cpio -it --quiet 2>/dev/null | grep -qx init'
rm -rf "$tmp"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
