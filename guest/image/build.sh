#!/usr/bin/env bash
# Builds the guest initrd reproducibly: the agent as /init, the directories
# it mounts on, and (debug variant) busybox with its applet links.
#   guest/image/build.sh OUT AGENT [BUSYBOX]
# MODULES="a.ko b.ko" (dependency order; .ko.xz/.ko.zst are unpacked) adds
# kernel modules the agent loads at start, for a kernel without virtio/vsock
# built in (the benchmark's distribution-kernel peer).
# Same inputs give the same bytes: sorted entries, owner root, mtime 0,
# gzip without name or time stamp.
set -euo pipefail
out=${1:?usage: build.sh OUT AGENT [BUSYBOX]}
agent=${2:?}
busybox=${3:-}

stage=$(mktemp -d "${TMPDIR:-/tmp}/joey-initrd.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{dev,proc,sys,run,tmp,etc}
install -m 0755 "$agent" "$stage/init"
if [ -n "$busybox" ]; then
  mkdir -p "$stage/bin"
  install -m 0755 "$busybox" "$stage/bin/busybox"
  for a in sh ls cat ps mount umount ip ping echo dmesg; do ln -s busybox "$stage/bin/$a"; done
fi
if [ -n "${MODULES:-}" ]; then
  mkdir -p "$stage/lib/modules"
  for m in $MODULES; do
    b=$(basename "$m")
    case "$b" in
    *.xz) xz -dc "$m" >"$stage/lib/modules/${b%.xz}"; b=${b%.xz} ;;
    *.zst) zstd -qdc "$m" >"$stage/lib/modules/${b%.zst}"; b=${b%.zst} ;;
    *) cp "$m" "$stage/lib/modules/$b" ;;
    esac
    echo "/lib/modules/$b" >>"$stage/etc/modules"
  done
fi
chmod 1777 "$stage/tmp"
find "$stage" -exec touch -h -d @0 {} +
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
  cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9 -n >"$out.tmp"
mv "$out.tmp" "$out"
echo "guest-initrd: $out ($(stat -c %s "$out") bytes)"
