#!/usr/bin/env bash
# test.sh installs what the tests need on a fresh Debian machine with Go and
# runs them all: Go tests on the pure-Go and ONNX Runtime backends, a short
# fuzz run of the image decoder, and every notebook under Jupyter.
#
# Real ISIC data is read from MEDNCA_ISIC_DIR and MEDNCA_ISIC_ORIGINAL_DIR
# (default: ../shared/isic2018 and ../shared/isic2018-original beside the
# repository); the cases that need it skip when it is absent.
#
# Environment: MEDNCA_SKIP_APT=1 skips apt-get, MEDNCA_SKIP_NOTEBOOKS=1 skips
# the notebooks, MEDNCA_TEST_SHORT=1 passes -short to go test.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export GOTOOLCHAIN=go1.27.3 GOEXPERIMENT=simd GOMLX_NO_AUTO_INSTALL=1
export MEDNCA_CACHE_DIR="${MEDNCA_CACHE_DIR:-$root/.cache/isic}"
shared="$(cd "$root/.." && pwd)/shared"
# The defaults only where the folders exist: notebook 1 takes a set
# MEDNCA_ISIC_DIR as a folder it must read, and uses synthetic lesions
# without one.
[[ -z "${MEDNCA_ISIC_DIR:-}" && -d "$shared/isic2018" ]] && export MEDNCA_ISIC_DIR="$shared/isic2018"
[[ -z "${MEDNCA_ISIC_ORIGINAL_DIR:-}" && -d "$shared/isic2018-original" ]] &&
  export MEDNCA_ISIC_ORIGINAL_DIR="$shared/isic2018-original"

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

# Debian packages: Jupyter for the notebooks, PyTorch for the reference
# model that the Go model is checked against.
packages=(jupyter-notebook jupyter-nbconvert jupyter-client python3-nbclient python3-ipykernel
  python3-torch python3-numpy)
if [[ "${MEDNCA_SKIP_APT:-}" != 1 ]]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg -s "$p" > /dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    step "apt-get install ${missing[*]}"
    apt-get update -qq || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      > /dev/null || fail "apt-get install ${missing[*]} failed"
  fi
fi

step "ONNX Runtime (npm onnxruntime-node)"
command -v npm > /dev/null || fail "npm not found: install Node.js with npm (Debian: apt-get install -y npm)"
lib="$(scripts/install-onnxruntime.sh | tail -n 1)" || fail "installing ONNX Runtime failed"
export ONNXRUNTIME_SHARED_LIBRARY_PATH="$lib"

step "Go modules"
go mod download || fail "go mod download failed"

short=()
[[ "${MEDNCA_TEST_SHORT:-}" == 1 ]] && short=(-short)

step "go vet"
go vet -tags onnx ./...

step "go test (pure-Go backend)"
MEDNCA_BACKEND=go go test "${short[@]}" -timeout 30m ./...

step "go test (ONNX Runtime backend) ./nca/ ./cmd/mednca/"
MEDNCA_BACKEND=onnx go test -tags onnx "${short[@]}" -timeout 30m ./nca/ ./cmd/mednca/

step "fuzz the decoder for 20s"
go test -run '^$' -fuzz FuzzDecodePreprocess -fuzztime 20s ./isic/

if [[ "${MEDNCA_SKIP_NOTEBOOKS:-}" != 1 ]]; then
  step "notebooks"
  bash scripts/run-notebooks.sh
fi

printf '\ntest.sh: all tests passed\n'
