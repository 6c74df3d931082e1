#!/usr/bin/env bash
# Every Deno test under tests/ (unit and integration with real containerd).
. tests/lib/suite.sh
deno_suite tests/
