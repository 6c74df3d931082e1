#!/usr/bin/env bash
# Devices (issue 4): virtqueue/vsock/vhost-user unit tests, test-guest
# drivers against the built-in VMM's virtio devices (plain and ASan+UBSan),
# real Linux (QEMU/TCG) over joey's vhost-user vsock back end, and a few
# seconds of each fuzz target.
. tests/lib/suite.sh
# The real-Linux test uses the project kernel when the guest area can build it.
if make -n guest-kernel >/dev/null 2>&1; then
  make -s guest-kernel >/dev/null || echo "30-devices: make guest-kernel failed; the QEMU test falls back to the Debian kernel"
fi
make -s vmm-lib devices devices-tests >/dev/null || { echo "30-devices: build failed"; suite_result 0 1 0; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
c_suite build/devices/tests/* tests/devices/qemu_vsock.sh tests/devices/fuzz_smoke.sh
