#!/usr/bin/env bash
# Guest side: agent unit tests (plain and ASan+UBSan) and the guest
# artefact checks. The agent's host-mode and in-VM tests are Deno tests
# (tests/agent/, tests/guest/), run by 90-deno.sh.
. tests/lib/suite.sh
make -s guest guest-tests >/dev/null || { suite_result 0 1 0; exit 1; }
c_suite build/guest/tests/unit_test build/guest/tests/unit_test-san tests/guest/image_check.sh
