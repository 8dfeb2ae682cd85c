#!/usr/bin/env bash
# mednca.sh builds mednca with the fastest CPU setup this machine allows and
# runs it with the given arguments:
#
#   scripts/mednca.sh train            # the built-in synthetic demo
#   scripts/mednca.sh train --data DIR # a real ISIC 2018 folder
#
# It installs the ONNX Runtime library once (npm package, no other network),
# builds bin/mednca with -tags onnx and GOEXPERIMENT=simd (Go's build cache
# makes later builds instant), and falls back to the pure-Go backend when
# ONNX Runtime cannot be installed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GOTOOLCHAIN=go1.27.3 GOEXPERIMENT=simd GOMLX_NO_AUTO_INSTALL=1

tags=()
if lib="$("$root/scripts/install-onnxruntime.sh" 2> /dev/null | tail -n 1)" && [[ -f "$lib" ]]; then
  export ONNXRUNTIME_SHARED_LIBRARY_PATH="${ONNXRUNTIME_SHARED_LIBRARY_PATH:-$lib}"
  tags=(-tags onnx)
else
  echo "mednca.sh: ONNX Runtime could not be installed (see scripts/install-onnxruntime.sh);" \
    "using the slower pure-Go backend" >&2
fi

mkdir -p "$root/bin"
(cd "$root" && go build "${tags[@]}" -o bin/mednca ./cmd/mednca)
exec "$root/bin/mednca" "$@"
