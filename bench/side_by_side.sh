#!/usr/bin/env bash
# side_by_side.sh times mednca's backends and the PyTorch reference on the
# same machine, alternating them so that load from other processes spreads
# evenly, and prints medians and ratios.
#
# Usage: bench/side_by_side.sh [-r ROUNDS] [-n REPS] [-t THREADS] [-b "go onnx"] [-o DIR]
#
#   -r ROUNDS   rounds; each runs every backend once (default 3)
#   -n REPS     timed repetitions inside each run (default 3)
#   -t THREADS  CPU threads for everyone: GOMAXPROCS, ONNX Runtime and
#               torch.set_num_threads (default 2)
#   -b LIST     mednca backends to time (default "go onnx"; add xla:cuda on a GPU)
#   -o DIR      where the raw JSON of every run goes (default /tmp/mednca-side-by-side)
#
# It uses $MEDNCA or bin/mednca when present, else builds it with -tags onnx (needs
# Go). PyTorch comes from $PYTHON, else the first of python3 and
# /usr/bin/python3 that imports torch. What is measured, for all: one
# training iteration (128x128 images, batch 8, 48+48 steps, level 2 on
# 64x64 patches, forward + backward + Adam) and one 128x128 inference
# (batch 1, 48+48 steps). A failed run is reported and skipped.
# $MEDNCA_BENCH_ARGS and $TORCH_BENCH_ARGS add flags to either side (e.g.
# smaller sizes for a quick try; keep both sides equal when comparing).
set -u

rounds=3
reps=3
threads=2
backends="go onnx"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${TMPDIR:-/tmp}/mednca-side-by-side"
while getopts "r:n:t:b:o:h" opt; do
  case "$opt" in
    r) rounds="$OPTARG" ;;
    n) reps="$OPTARG" ;;
    t) threads="$OPTARG" ;;
    b) backends="$OPTARG" ;;
    o) out="$OPTARG" ;;
    *) sed -n '2,21p' "$0"; exit 2 ;;
  esac
done
mkdir -p "$out"
cd "$repo" || exit 1

# The Go side: an existing binary, or one built with every CPU backend.
mednca="${MEDNCA:-$repo/bin/mednca}"
if [[ ! -x "$mednca" ]]; then
  echo "building $mednca (-tags onnx)" >&2
  GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}" go build -tags onnx -o "$mednca" ./cmd/mednca || {
    echo "side_by_side.sh: cannot build bin/mednca; build it first" >&2
    exit 1
  }
fi

# The PyTorch side: any Python that imports torch.
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  for candidate in python3 /usr/bin/python3; do
    if "$candidate" -c 'import torch' 2> /dev/null; then
      python="$candidate"
      break
    fi
  done
fi
if [[ -z "$python" ]]; then
  echo "side_by_side.sh: no Python with torch found; set PYTHON (Debian: apt-get install python3-torch)" >&2
  exit 1
fi

export GOMAXPROCS="$threads" OMP_NUM_THREADS="$threads"

# machine_info prints what the numbers depend on.
machine_info() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
  echo "cores: $(nproc) available, threads used: $threads"
  echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
  local go_version
  go_version="$(GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}" go version 2> /dev/null)"
  echo "go: ${go_version:-not installed (prebuilt bin/mednca)}"
  echo "torch: $("$python" -c 'import torch; print(torch.__version__)')"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$mednca" backends 2> /dev/null | sed 's/^/  /'
}
machine_info | tee "$out/machine.txt"

# Alternate the contestants round by round.
for round in $(seq 1 "$rounds"); do
  for backend in $backends; do
    file="$out/round$round-${backend//:/_}.json"
    echo "round $round: mednca bench --backend $backend" >&2
    # shellcheck disable=SC2086 # the extra arguments are a word list
    if ! "$mednca" bench --backend "$backend" --reps "$reps" ${MEDNCA_BENCH_ARGS:-} > "$file" 2> "$file.log"; then
      echo "  failed: see $file.log" >&2
      rm -f "$file"
    fi
  done
  file="$out/round$round-torch.json"
  echo "round $round: torch_mednca.py bench" >&2
  # shellcheck disable=SC2086 # the extra arguments are a word list
  if ! "$python" bench/torch_mednca.py bench --threads "$threads" --reps "$reps" \
    ${TORCH_BENCH_ARGS:-} > "$file" 2> "$file.log"; then
    echo "  failed: see $file.log" >&2
    rm -f "$file"
  fi
done

# Matrix-product ceiling of the update rule's first layer, both sides.
echo "matmul [32768,48]x[48,128] float32, GFLOP/s:" | tee "$out/matmul.txt"
"$python" bench/torch_mednca.py matmul --threads "$threads" 2> /dev/null |
  "$python" -c 'import json,sys; print("  torch: %.1f" % json.load(sys.stdin)["gflops"])' |
  tee -a "$out/matmul.txt"
if command -v go > /dev/null; then
  GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}" go test -tags onnx -run '^$' -bench BackendMatMul \
    -benchtime 20x ./nca/ 2> /dev/null | awk '/GFLOP/ {print "  " $1 ": " $(NF-1)}' |
    tee -a "$out/matmul.txt"
fi

# Medians over rounds, and each backend's time relative to PyTorch.
"$python" - "$out" <<'EOF'
import glob, json, os, statistics, sys
out = sys.argv[1]
runs = {}
for path in sorted(glob.glob(os.path.join(out, "round*-*.json"))):
    name = os.path.basename(path).split("-", 1)[1][:-len(".json")]
    try:
        with open(path) as f:
            runs.setdefault(name, []).append(json.load(f))
    except ValueError as e:
        print(f"skipping {path}: {e}", file=sys.stderr)

def median(name, key):
    values = [r[key] for r in runs.get(name, []) if key in r]
    return statistics.median(values) if values else None

torch_train, torch_infer = median("torch", "train_iter_s_median"), median("torch", "infer_s_median")
print()
print(f"{'backend':10} {'rounds':>6} {'train iter s':>12} {'x torch':>8} "
      f"{'infer s':>9} {'x torch':>8} {'peak RSS GiB':>12}")
for name in sorted(runs, key=lambda n: (n == "torch", n)):
    train, infer = median(name, "train_iter_s_median"), median(name, "infer_s_median")
    rss = max((r.get("peak_rss_bytes", 0) for r in runs[name]), default=0) / 2**30
    ratio = lambda a, b: f"{a / b:8.2f}" if a and b else f"{'-':>8}"
    fmt = lambda v, w: f"{v:{w}.3f}" if v is not None else f"{'-':>{w}}"
    print(f"{name:10} {len(runs[name]):6d} {fmt(train, 12)} {ratio(train, torch_train)} "
          f"{fmt(infer, 9)} {ratio(infer, torch_infer)} {rss:12.2f}")
EOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
