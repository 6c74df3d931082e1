#!/usr/bin/env bash
# VMM core: C tests with test guests on this host's KVM, plain and under
# ASan+UBSan (built by `make vmm`, part of `make build`).
. tests/lib/suite.sh
make -s vmm >/dev/null || { suite_result 0 1 0; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
c_suite build/vmm/tests/* build/vmm-san/tests/*
