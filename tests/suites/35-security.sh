#!/usr/bin/env bash
# Reliability and security (issue 8), the C part: the VMM's seccomp filters
# (forbidden calls from running vCPU/I/O threads), VMM fault injection
# (faulting VMs beside a running one), the vsock flood (512 unread
# connections at full credit stay within the per-VM bound), plain and under
# ASan+UBSan, then the security fuzz targets (loader, the agent's protobuf
# decoders and its ttrpc server): regression inputs replayed and a few
# seconds each.
# The Deno parts (tests/faults/, tests/security/*_test.ts, tests/ttrpc/
# property tests) run in 90-deno with every other Deno test.
. tests/lib/suite.sh
make -s vmm security >/dev/null || { echo "35-security: build failed"; suite_result 0 1 0; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
c_suite build/security/tests/* tests/security/fuzz_smoke.sh
