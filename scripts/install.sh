#!/usr/bin/env bash
# make install: scripts/install.sh PREFIX SOURCE_DIR DENO
#
# Installs joey so that it keeps working after the checkout moves or goes:
#   PREFIX/bin/joey, PREFIX/bin/containerd-shim-joey-v2
#       the compiled executable (dist/joey, from `make dist`) when it exists,
#       else launchers that run PREFIX/lib/joey/main.ts on PREFIX/lib/joey/deno
#   PREFIX/lib/joey/          a copy of the program (main.ts, deno.json, deno.lock,
#                             src/, proto/), the pinned Deno, its npm cache
#                             (deno-dir/) and the OS helper library (build/os/)
#   PREFIX/share/joey/        configuration.toml (commented defaults), the guest
#                             kernel and initrd, the VMM library, install-manifest.txt
#   /etc/joey/configuration.toml  only when PREFIX is /, /usr or /usr/local and
#                             no such file exists (an existing one is never touched)
# Every file and directory it creates is listed in the manifest, which
# scripts/uninstall.sh follows to remove exactly those.
set -euo pipefail

prefix="${1:?usage: install.sh PREFIX SOURCE_DIR DENO}"
src="${2:?usage: install.sh PREFIX SOURCE_DIR DENO}"
deno="${3:?usage: install.sh PREFIX SOURCE_DIR DENO}"
prefix="${prefix%/}"
etc_dir="${JOEY_ETC_DIR:-/etc/joey}"

bin="$prefix/bin"
home="$prefix/lib/joey"
share="$prefix/share/joey"
manifest="$share/install-manifest.txt"

say() { echo "install: $*" >&2; }
die() { echo "install: $*" >&2; exit 1; }

[ -x "$deno" ] || die "no Deno at $deno (run make setup)"
[ -f "$src/main.ts" ] || die "$src is not a joey checkout"
if [ -f "$manifest" ]; then
  say "joey is already installed under $prefix; reinstalling (uninstalling first)"
  bash "$src/scripts/uninstall.sh" "$prefix"
fi

entries=()
# mkdir_rec DIR: creates DIR and its missing parents, recording each one created.
mkdir_rec() {
  local dir="$1" missing=()
  while [ ! -d "$dir" ]; do missing=("$dir" "${missing[@]}"); dir="$(dirname "$dir")"; done
  for dir in "${missing[@]}"; do mkdir -m 755 "$dir"; entries+=("d $dir"); done
}
# put MODE SRC DEST: copies one file, recording it.
put() {
  mkdir_rec "$(dirname "$3")"
  [ -e "$3" ] && die "$3 already exists and is not ours; remove it first"
  install -m "$1" "$2" "$3"
  entries+=("f $3")
}
# put_tree SRC_DIR DEST_DIR: copies a directory's files (no build outputs or caches).
put_tree() {
  local f rel
  while IFS= read -r -d '' f; do
    rel="${f#"$1"/}"
    put 644 "$f" "$2/$rel"
  done < <(find "$1" -type f ! -name '*.o' -print0 | sort -z)
}
write_manifest() {
  mkdir_rec "$share"
  { echo "# joey install manifest: what scripts/uninstall.sh removes (f file, d dir, t tree owned whole, c config: path sha256)"
    printf '%s\n' "${entries[@]}"
    echo "f $manifest"; } >"$manifest.tmp"
  mv "$manifest.tmp" "$manifest"
}
trap 'status=$?; if [ $status -ne 0 ] && [ ${#entries[@]} -gt 0 ]; then say "failed; undoing"; write_manifest; bash "$src/scripts/uninstall.sh" "$prefix" >/dev/null 2>&1 || true; fi' EXIT

# The program and its runtime.
for f in main.ts deno.json deno.lock; do
  [ -f "$src/$f" ] && put 644 "$src/$f" "$home/$f"
done
put_tree "$src/src" "$home/src"
put_tree "$src/proto" "$home/proto"
put 755 "$(readlink -f "$deno")" "$home/deno"
deno_dir="${DENO_DIR:-$src/.cache/deno}"
[ -d "$deno_dir/npm" ] || die "no npm cache at $deno_dir/npm (run make build)"
put_tree "$deno_dir/npm" "$home/deno-dir/npm"
# Deno also writes its own caches (transpiled code, V8 code cache) in there as
# joey runs: the whole tree is joey's, and uninstall removes it as one.
entries+=("t $home/deno-dir")

# Native libraries: the OS helper where src/os finds it relative to main.ts;
# the VMM library with the guest assets ($JOEY_ASSETS_DIR, where the builtin
# hypervisor's loader and `joey check` look first).
if [ -f "$src/build/os/libjoeyos.so" ]; then
  put 755 "$src/build/os/libjoeyos.so" "$home/build/os/libjoeyos.so"
else say "warning: build/os/libjoeyos.so not built; not installed"; fi
if [ -f "$src/build/vmm/libjoeyvmm.so" ]; then
  put 755 "$src/build/vmm/libjoeyvmm.so" "$share/libjoeyvmm.so"
else say "warning: build/vmm/libjoeyvmm.so not built; the builtin hypervisor needs it"; fi

# Guest assets and the default configuration.
put 644 "$src/config/configuration.toml" "$share/configuration.toml"
if [ -f "$src/build/guest/kernel/bzImage" ]; then
  put 644 "$src/build/guest/kernel/bzImage" "$share/bzImage"
else say "warning: build/guest/kernel/bzImage not built; virt-container needs it"; fi
# The uncompressed ELF too: both hypervisors take it first (no emulated
# decompressor where guest code is emulated: QEMU/TCG, PVM).
if [ -f "$src/build/guest/kernel/vmlinux" ]; then
  put 644 "$src/build/guest/kernel/vmlinux" "$share/vmlinux"
fi
initrd=""
for cand in initrd.img initrd.cpio.gz image/initrd.img image/initrd.cpio.gz initrd/initrd.cpio.gz initramfs.cpio.gz; do
  if [ -f "$src/build/guest/$cand" ]; then initrd="$src/build/guest/$cand"; break; fi
done
if [ -n "$initrd" ]; then
  base="$(basename "$initrd")"
  put 644 "$initrd" "$share/$base"
else say "warning: no guest initrd under build/guest/; virt-container needs it"; fi

# The commands: the compiled executable when `make dist` made one, else launchers.
if [ -x "$src/dist/joey" ] && [ -z "${JOEY_INSTALL_LAUNCHER:-}" ]; then
  put 755 "$src/dist/joey" "$bin/joey"
  # The same executable under the shim's name: it recognizes shim invocations by their arguments.
  ln "$bin/joey" "$bin/containerd-shim-joey-v2"
  entries+=("f $bin/containerd-shim-joey-v2")
  mode="compiled executable"
else
  launcher="$(mktemp)"
  # --unstable-lazy-dynamic-imports: modules behind import() load when used,
  # not all at every start (about 4 ms per process; see src/shim/self.ts).
  # fast_delete.sh answers containerd's `delete` after a clean Delete without Deno.
  cat >"$launcher" <<EOF
#!/bin/sh
# joey launcher, installed by make install: runs $home/main.ts on the pinned Deno.
# The same program is the joey CLI and containerd-shim-joey-v2.
: "\${JOEY_ASSETS_DIR:=$share}"
export JOEY_ASSETS_DIR
export DENO_DIR="$home/deno-dir"
export DENO_NO_UPDATE_CHECK=1
. "$home/src/shim/fast_delete.sh"
exec "$home/deno" run -A --cached-only --no-prompt --unstable-lazy-dynamic-imports --quiet "$home/main.ts" "\$@"
EOF
  put 755 "$launcher" "$bin/joey"
  put 755 "$launcher" "$bin/containerd-shim-joey-v2"
  rm -f "$launcher"
  mode="launcher on Deno $("$home/deno" --version | head -1 | cut -d' ' -f2)"
fi

# /etc/joey for system-wide prefixes, never overwriting an operator's file.
case "$prefix" in
  "" | /usr | /usr/local)
    if [ -e "$etc_dir/configuration.toml" ]; then
      say "keeping the existing $etc_dir/configuration.toml"
    else
      mkdir_rec "$etc_dir"
      install -m 644 "$src/config/configuration.toml" "$etc_dir/configuration.toml"
      entries+=("c $etc_dir/configuration.toml $(sha256sum "$etc_dir/configuration.toml" | cut -d' ' -f1)")
    fi ;;
esac

write_manifest
trap - EXIT
# A launcher that cannot start is worse than none: check it now.
if ! JOEY_CONFIG=/dev/null "$bin/joey" version >/dev/null 2>&1; then
  say "the installed joey does not start:"; JOEY_CONFIG=/dev/null "$bin/joey" version || true
  bash "$src/scripts/uninstall.sh" "$prefix"
  exit 1
fi
say "installed joey ($mode) into $prefix ($(grep -c '^[fc] ' "$manifest") files)"
say "containerd finds the shim on its PATH: $bin/containerd-shim-joey-v2"
