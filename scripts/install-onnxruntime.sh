#!/usr/bin/env bash
# install-onnxruntime.sh installs the ONNX Runtime CPU shared library that the
# "onnx" backend of mednca loads (builds with -tags onnx).
#
# Usage: scripts/install-onnxruntime.sh [DIR]
#
# The library comes inside the npm package onnxruntime-node, so only the npm
# registry is needed. It lands in DIR/node_modules/onnxruntime-node/...; DIR
# defaults to the repository root, where mednca looks first. Running it again
# does nothing when the library is already there. The last line printed is the
# library path, ready for ONNXRUNTIME_SHARED_LIBRARY_PATH.
set -euo pipefail

readonly ORT_NODE_VERSION="1.30.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-$repo_root}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

# npm names architectures like Node does.
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install-onnxruntime.sh: unsupported machine $(uname -m); need x86_64 or aarch64" >&2; exit 1 ;;
esac
lib="$dir/node_modules/onnxruntime-node/bin/napi-v6/linux/$arch/libonnxruntime.so.1"
pkg_json="$dir/node_modules/onnxruntime-node/package.json"

# Skip the install when this exact version is already in place.
installed_version=""
if [[ -f "$pkg_json" ]]; then
  installed_version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkg_json" | head -n 1)"
fi
if [[ -f "$lib" && "$installed_version" == "$ORT_NODE_VERSION" ]]; then
  echo "onnxruntime-node@$ORT_NODE_VERSION already installed in $dir" >&2
  echo "$lib"
  exit 0
fi

if ! command -v npm > /dev/null; then
  echo "install-onnxruntime.sh: npm not found; install it (Debian: apt-get install -y npm)" >&2
  exit 1
fi

# --ignore-scripts: the package's postinstall would try to download CUDA
# providers; the CPU library is already inside the tarball.
npm install --ignore-scripts --no-audit --no-fund --no-save --loglevel=error \
  --prefix "$dir" "onnxruntime-node@$ORT_NODE_VERSION" >&2

if [[ ! -f "$lib" ]]; then
  echo "install-onnxruntime.sh: npm finished but $lib is missing" >&2
  exit 1
fi
echo "$lib"
