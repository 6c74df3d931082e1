#!/usr/bin/env bash
# make uninstall: scripts/uninstall.sh PREFIX
#
# Removes exactly what scripts/install.sh recorded in
# PREFIX/share/joey/install-manifest.txt: its files, the Deno cache tree
# under PREFIX/lib/joey, then the directories it created (deepest first, and only when empty). The configuration it put in
# /etc/joey is removed only when unchanged; an edited one is kept and named.
set -euo pipefail

prefix="${1:?usage: uninstall.sh PREFIX}"
prefix="${prefix%/}"
manifest="$prefix/share/joey/install-manifest.txt"
say() { echo "uninstall: $*" >&2; }

if [ ! -f "$manifest" ]; then
  say "nothing to do: no joey install manifest at $manifest"
  exit 0
fi

dirs=()
files=0
while IFS=' ' read -r kind path sum; do
  case "$kind" in
    f)
      if [ "$path" != "$manifest" ]; then rm -f -- "$path"; files=$((files + 1)); fi ;;
    c)
      if [ -f "$path" ] && [ "$(sha256sum "$path" | cut -d' ' -f1)" != "$sum" ]; then
        say "keeping $path: it was changed after install"
      else
        rm -f -- "$path"; files=$((files + 1))
      fi ;;
    t)
      # A directory joey owns whole (the Deno cache it writes while running).
      case "$path" in "$prefix"/lib/joey/*) rm -rf -- "$path" ;; *) say "refusing to remove $path" ;; esac ;;
    d) dirs+=("$path") ;;
    "#"* | "") ;;
    *) say "ignoring manifest line: $kind $path" ;;
  esac
done <"$manifest"
rm -f -- "$manifest"

# Deepest first; a directory something else put files in stays.
while IFS= read -r dir; do
  [ -n "$dir" ] && [ -d "$dir" ] || continue
  rmdir -- "$dir" 2>/dev/null || say "keeping $dir: not empty"
done < <(printf '%s\n' "${dirs[@]}" | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-)
say "removed joey from $prefix ($files files)"
