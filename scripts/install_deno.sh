#!/usr/bin/env bash
# Installs the pinned Deno from the npm registry's platform package into a
# project-local folder ($2/bin/deno). npm is the only registry these hosts reach.
set -euo pipefail
version="$1"
tools="$2"
case "$(uname -m)" in
  x86_64) pkg="@deno/linux-x64-glibc" ;;
  aarch64) pkg="@deno/linux-arm64-glibc" ;;
  *) echo "setup: no Deno build for $(uname -m)" >&2; exit 1 ;;
esac
if ! command -v npm >/dev/null; then
  bash "$(dirname "$0")/apt_install.sh" npm
fi
mkdir -p "$tools/npm" "$tools/bin"
echo "setup: installing deno $version from npm ($pkg)" >&2
npm install --silent --no-save --no-audit --no-fund --prefix "$tools/npm" "$pkg@$version" >/dev/null
ln -sf "$tools/npm/node_modules/$pkg/deno" "$tools/bin/deno"
"$tools/bin/deno" --version | head -1 >&2
