#!/usr/bin/env bash
# build-gpu-bundle.sh builds the binaries scripts/gpu-check.sh runs on a GPU
# machine that has no Go: bin/mednca (the program, with the xla:cuda
# backend) and bin/nca.test (the nca package tests).
#
# Usage: scripts/build-gpu-bundle.sh
#
# Both link glibc dynamically (cgo loads the PJRT plugin with dlopen), so
# the GPU machine needs a glibc at least as new as this one's. Symbol tables
# are left out (-s -w: stack traces keep function names) so the pair stays
# well under 64 MiB and travels with a working tree.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}" CGO_ENABLED=1
mkdir -p bin
go build -ldflags="-s -w" -o bin/mednca ./cmd/mednca
go test -c -ldflags="-s -w" -o bin/nca.test ./nca/
ls -l bin/mednca bin/nca.test
echo "glibc here: $(ldd --version | head -n 1)"
