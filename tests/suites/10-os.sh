#!/usr/bin/env bash
# C tests of ffi/os (the helper library behind src/os), under ASan/UBSan.
. tests/lib/suite.sh
make -s os >/dev/null || { suite_result 0 1 0; exit 1; }
c_suite build/os/os_test
