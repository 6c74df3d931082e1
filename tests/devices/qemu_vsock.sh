#!/usr/bin/env bash
# Real Linux drivers against joey's vsock: QEMU (TCG, -M microvm) boots a
# Linux kernel with -device vhost-user-vsock-device served by
# build/vmm/joey-vhost-vsock; the initrd's vsock_probe exchanges BYTES each
# way with build/devices/vsock_host over the hybrid socket, in both
# directions. The guest then reboots, which ends QEMU (-no-reboot): through
# ACPI on the Debian kernel, a triple fault (reboot=t) on the ACPI-less one. Prints "N passed, N failed, N skipped" as its last line.
#   qemu_vsock.sh [BYTES]
# Kernel: build/guest/kernel/bzImage (the project's; virtio-mmio, vsock
# built in); when it is absent, the Debian cloud kernel with its virtio and
# vsock modules loaded from the initrd (a real kernel all the same). Skips
# only when neither exists. QEMU_VSOCK_KERNEL=debian forces the fallback.
# VHOST_VSOCK_SOCKET and VHOST_VSOCK_UDS: a back end the caller already
# serves there (joey's in-process one, tests/hypervisor/builtin/
# vhost_vsock_test.ts); the script then starts no tool and leaves the
# back end's own end and cleanup to the caller to check.
set -uo pipefail
cd "$(dirname "$0")/../.."
BYTES=${1:-16777216}
BUILD=$PWD/build
TOOL=$BUILD/vmm/joey-vhost-vsock
work=$(mktemp -d /tmp/joey-qvsock.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
result() { echo "$1 passed, $2 failed, $3 skipped"; exit $(( $2 ? 1 : 0 )); }

kernel=$BUILD/guest/kernel/bzImage
modules=()
# The project kernel has no ACPI: QEMU then lists the virtio-mmio devices on
# the command line (virtio_mmio.device=). The Debian kernel finds them
# through ACPI instead (it lacks VIRTIO_MMIO_CMDLINE_DEVICES).
acpi=off reboot=reboot=t
if [ ! -s "$kernel" ] || [ "${QEMU_VSOCK_KERNEL:-}" = debian ]; then
  kernel=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1)
  if [ -z "$kernel" ] || ! [ -r "$kernel" ]; then
    echo "SKIP qemu_vsock: no guest kernel (build/guest/kernel/bzImage absent, no Debian cloud kernel)"
    result 0 0 1
  fi
  acpi=auto reboot=
  kver=${kernel#/boot/vmlinuz-}
  mdir=/lib/modules/$kver/kernel
  for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio \
    net/vmw_vsock/vsock net/vmw_vsock/vmw_vsock_virtio_transport_common \
    net/vmw_vsock/vmw_vsock_virtio_transport; do
    f=$(ls "$mdir/$m.ko"* 2>/dev/null | head -1)
    [ -n "$f" ] || { echo "FAIL qemu_vsock: module $m missing for $kernel"; result 0 1 0; }
    modules+=("$f")
  done
fi
echo "qemu_vsock: kernel $kernel, $BYTES bytes each way"

# initrd: busybox, the probe, modules (cloud kernel only), /init.
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,lib}
cp /bin/busybox "$root/bin/busybox"
cp "$BUILD/devices/vsock_probe" "$root/vsock_probe"
: >"$root/modules"
for f in "${modules[@]}"; do
  b=$(basename "$f"); cp "$f" "$root/lib/$b"
  case "$b" in *.xz) xz -d "$root/lib/$b"; b=${b%.xz};; *.zst) zstd -qd --rm "$root/lib/$b"; b=${b%.zst};; esac
  echo "$b" >>"$root/modules"
done
cat >"$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in \$(/bin/busybox cat /modules); do /bin/busybox insmod /lib/\$m || echo "insmod \$m failed"; done
/vsock_probe $BYTES
echo "probe exit \$?"
/bin/busybox reboot -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1 >"$work/initrd.gz") || result 0 1 0

sock=$work/vhost.sock uds=$work/vsock.sock backend=
: >"$work/backend.log"
if [ -n "${VHOST_VSOCK_SOCKET:-}" ]; then
  sock=$VHOST_VSOCK_SOCKET uds=${VHOST_VSOCK_UDS:?VHOST_VSOCK_UDS goes with VHOST_VSOCK_SOCKET}
else
  "$TOOL" --socket "$sock" --uds "$uds" --cid 3 2>"$work/backend.log" &
  pids+=($!); backend=$!
fi
"$BUILD/devices/vsock_host" "$uds" "$BYTES" 170 >"$work/host.log" 2>&1 &
pids+=($!); host=$!
for _ in $(seq 100); do [ -S "$sock" ] && [ -S "${uds}_5000" ] && break; sleep 0.05; done

timeout ${QEMU_TIMEOUT:-180} qemu-system-x86_64 -M microvm,acpi=$acpi,memory-backend=mem -accel tcg -m 256M -smp 1 \
  -object memory-backend-memfd,id=mem,size=256M,share=on \
  -nodefaults -no-user-config -nographic -no-reboot \
  -serial stdio \
  -kernel "$kernel" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 panic=-1 $reboot ${QEMU_APPEND:-quiet loglevel=4}" \
  -chardev socket,id=vs,path="$sock" -device vhost-user-vsock-device,chardev=vs \
  </dev/null >"$work/console.log" 2>"$work/qemu.log"
qrc=$?
# The host side has no more to wait for once the guest is gone.
host_rc=timeout
for _ in $(seq 100); do
  if ! kill -0 "$host" 2>/dev/null; then host_rc=0; wait "$host" || host_rc=$?; break; fi
  sleep 0.1
done
# QEMU is gone: the back end must notice the disconnect and exit by itself.
backend_rc=timeout
for _ in $(seq 50); do
  [ -n "$backend" ] || break
  if ! kill -0 "$backend" 2>/dev/null; then wait "$backend"; backend_rc=$?; break; fi
  sleep 0.1
done

echo "--- console (tail)"; tail -n 40 "$work/console.log"
echo "--- host"; cat "$work/host.log"
echo "--- back end"; cat "$work/backend.log"
[ -s "$work/qemu.log" ] && { echo "--- qemu"; tail -n 5 "$work/qemu.log"; }
passed=0 failed=0
check() { if eval "$2"; then echo "PASS $1"; passed=$((passed+1)); else echo "FAIL $1"; failed=$((failed+1)); fi; }
check "qemu booted Linux and exited when the guest rebooted (rc $qrc)" '[ "$qrc" -eq 0 ] && grep -q "probe exit 0" "$work/console.log"'
check "guest->host over AF_VSOCK to <uds>_5000, checked both ways" \
  'grep -q "probe: guest->host OK" "$work/console.log" && grep -q "vsock_host: guest->host OK" "$work/host.log"'
check "host->guest via CONNECT 6000 on the hybrid socket, checked both ways" \
  'grep -q "probe: host->guest OK" "$work/console.log" && grep -q "vsock_host: host->guest OK" "$work/host.log"'
check "host side exited 0 (rc $host_rc)" '[ "$host_rc" = 0 ]'
if [ -n "$backend" ]; then
  check "back end exited cleanly when QEMU went away (rc $backend_rc)" '[ "$backend_rc" = 0 ]'
  check "back end removed its sockets" '[ ! -e "$sock" ] && [ ! -e "$uds" ]'
fi
result $passed $failed 0
