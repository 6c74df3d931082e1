#!/usr/bin/env bash
# Builds the joey guest kernel from Debian's linux-source package:
#   guest/kernel/build.sh OUT_DIR
# tinyconfig + microvm.config (merged, then olddefconfig), no modules.
# The result (OUT_DIR/bzImage, OUT_DIR/vmlinux, OUT_DIR/config) is cached
# under a key made of the source package version, the fragment and this
# script, so it is rebuilt only when one of them changes.
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/microvm.config
series=${GUEST_KERNEL_SERIES:-6.1}
pkg=linux-source-$series
tarball=/usr/src/$pkg.tar.xz
jobs=${JOBS:-$(nproc)}

ver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) ||
  { echo "guest-kernel: $pkg is not installed (make setup)" >&2; exit 1; }
[ -f "$tarball" ] || { echo "guest-kernel: $tarball missing" >&2; exit 1; }
key=$( { echo "$pkg $ver"; cat "$fragment" "$0"; } | sha256sum | cut -c1-16)

mkdir -p "$out"
# One build at a time per output directory: two makes in one source tree
# (say, two `make build` runs) would corrupt it.
exec 9>"$out/.lock"
flock 9
if [ -f "$out/key" ] && [ "$(cat "$out/key")" = "$key" ] &&
  [ -f "$out/bzImage" ] && [ -f "$out/vmlinux" ]; then
  exit 0
fi

src=$out/src-$ver
log=$out/build.log
start=$SECONDS
if [ ! -f "$src/.extracted" ]; then
  echo "guest-kernel: extracting $pkg $ver"
  rm -rf "$src" && mkdir -p "$src"
  tar -xJf "$tarball" -C "$src" --strip-components=1
  touch "$src/.extracted"
fi

echo "guest-kernel: configuring (tinyconfig + $(basename "$fragment"))"
make -C "$src" -s tinyconfig >"$log" 2>&1
"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$fragment" >>"$log" 2>&1
make -C "$src" -s olddefconfig >>"$log" 2>&1

# Every option the fragment asks for must have survived olddefconfig: a
# silently dropped dependency would give a kernel that boots but cannot,
# say, mount virtiofs.
missing=0
while IFS= read -r line; do
  case $line in
  CONFIG_*=*) grep -qxF "$line" "$src/.config" || { echo "guest-kernel: not applied: $line" >&2; missing=1; } ;;
  "# CONFIG_"*" is not set")
    opt=${line#\# }; opt=${opt%% *}
    grep -q "^$opt=" "$src/.config" && { echo "guest-kernel: still set: $opt" >&2; missing=1; } ;;
  esac
done <"$fragment"
[ "$missing" = 0 ] || exit 1

# Progress: one line per 250 objects compiled, with the elapsed time.
echo "guest-kernel: compiling with $jobs jobs (log: $log)"
set +e
make -C "$src" -j"$jobs" bzImage vmlinux 2>&1 | tee -a "$log" | {
  n=0
  while IFS= read -r l; do
    case $l in "  CC "*)
      n=$((n + 1))
      [ $((n % 250)) = 0 ] && echo "guest-kernel: $n objects, $((SECONDS - start))s" ;;
    esac
  done
  echo "guest-kernel: $n objects compiled"
}
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" != 0 ]; then
  echo "guest-kernel: build failed; last lines of $log:" >&2
  tail -30 "$log" >&2
  exit 1
fi

cp "$src/arch/x86/boot/bzImage" "$out/bzImage.tmp" && mv "$out/bzImage.tmp" "$out/bzImage"
cp "$src/vmlinux" "$out/vmlinux.tmp" && mv "$out/vmlinux.tmp" "$out/vmlinux"
cp "$src/.config" "$out/config"
echo "$key" >"$out/key"
echo "guest-kernel: $out/bzImage ($(stat -c %s "$out/bzImage") bytes) in $((SECONDS - start))s"
