#!/usr/bin/env bash
# side_by_side.sh times mednca's backends and the PyTorch reference on the
# same machine, alternating them so that load from other processes spreads
# evenly, and prints medians, ratios and each one's fastest single repetition.
#
# Usage: bench/side_by_side.sh [-r ROUNDS] [-n REPS] [-t THREADS] [-b "go onnx"]
#          [-p "PASSIVE ACTIVE"] [-o DIR]
#
#   -r ROUNDS   rounds; each runs every backend once (default 3)
#   -n REPS     timed repetitions inside each run (default 3)
#   -t THREADS  CPU threads for everyone: GOMAXPROCS, ONNX Runtime and
#               torch.set_num_threads (default 2)
#   -b LIST     mednca backends to time (default "go onnx"; add xla:cuda on a GPU)
#   -p LIST     OMP_WAIT_POLICY values PyTorch runs under (default "PASSIVE
#               ACTIVE"); under each it runs as it comes and with
#               torch.set_flush_denormal(True) ("_flush"), each a contestant;
#               ratios are against the fastest
#   -o DIR      where the raw JSON of every run goes (default /tmp/mednca-side-by-side)
#
# It uses $MEDNCA or bin/mednca when present, else builds it with -tags onnx (needs
# Go). PyTorch comes from $PYTHON, else the first of python3 and
# /usr/bin/python3 that imports torch. What is measured, for all: one
# training iteration (128x128 images, batch 8, 48+48 steps, level 2 on
# 64x64 patches, forward + backward + Adam), one 128x128 inference (batch
# 1, 48+48 steps), peak memory, a 2048x2048 matrix product (the machine's
# peak is the best of them) and the update rule (MLP) of one training step
# alone. A failed run is reported and skipped.
# $MEDNCA_BENCH_ARGS and $TORCH_BENCH_ARGS add flags to either side (e.g.
# smaller sizes for a quick try; keep both sides equal when comparing).
set -u

rounds=3
reps=3
threads=2
backends="go onnx"
policies="PASSIVE ACTIVE"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${TMPDIR:-/tmp}/mednca-side-by-side"
while getopts "r:n:t:b:p:o:h" opt; do
  case "$opt" in
    r) rounds="$OPTARG" ;;
    n) reps="$OPTARG" ;;
    t) threads="$OPTARG" ;;
    b) backends="$OPTARG" ;;
    p) policies="$OPTARG" ;;
    o) out="$OPTARG" ;;
    *) sed -n '2,27p' "$0"; exit 2 ;;
  esac
done
mkdir -p "$out"
rm -f "$out"/round*-*.json "$out"/round*-*.json.log
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
  for policy in $policies; do
    for flush in "" --flush-denormal; do
      file="$out/round$round-torch_${policy,,}${flush:+_flush}.json"
      echo "round $round: torch_mednca.py bench $flush (OMP_WAIT_POLICY=$policy)" >&2
      # shellcheck disable=SC2086 # the extra arguments are a word list
      if ! OMP_WAIT_POLICY="$policy" "$python" bench/torch_mednca.py bench --threads "$threads" --reps "$reps" \
        $flush ${TORCH_BENCH_ARGS:-} > "$file" 2> "$file.log"; then
        echo "  failed: see $file.log" >&2
        rm -f "$file"
      fi
    done
  done
done

# PyTorch's matrix-product throughputs (mednca bench measured its own in
# every run above).
echo "torch_mednca.py matmul" >&2
"$python" bench/torch_mednca.py matmul --threads "$threads" > "$out/matmul-torch.json" 2> "$out/matmul-torch.log" ||
  echo "  failed: see $out/matmul-torch.log" >&2

# Medians over rounds, and each backend's time relative to PyTorch; then
# the fastest single repetitions.
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

torch_names = [n for n in runs if n.startswith("torch")]
best = lambda key: min((v for v in (median(n, key) for n in torch_names) if v), default=None)
torch_train, torch_infer = best("train_iter_s_median"), best("infer_s_median")

# The machine's matrix-product peak: the best square product any side got.
peaks = {n: median(n, "matmul_peak_gflops") for n in runs if not n.startswith("torch")}
try:
    with open(os.path.join(out, "matmul-torch.json")) as f:
        torch_mm = json.load(f)
    # Debian's PyTorch multiplies large square matrices on a slow path
    # (6 GFLOP/s on the machines of bench/README.md): a "peak" below its own
    # update rule's rate is no peak.
    if torch_mm["peak_gflops"] >= torch_mm.get("update_rule_gflops", 0):
        peaks["torch"] = torch_mm["peak_gflops"]
except (OSError, ValueError, KeyError):
    torch_mm = None
peaks = {n: v for n, v in peaks.items() if v}
peak = max(peaks.values(), default=None)

print()
print("ratio: time / fastest PyTorch time (below 1: faster than PyTorch)")
print(f"{'contestant':20} {'rounds':>6} {'train iter s':>12} {'ratio':>6} "
      f"{'infer s':>8} {'ratio':>6} {'peak RSS GiB':>12} {'MLP GFLOP/s':>11} {'of peak':>7}")
for name in sorted(runs, key=lambda n: (n.startswith("torch"), n)):
    train, infer = median(name, "train_iter_s_median"), median(name, "infer_s_median")
    rss = max((r.get("peak_rss_bytes", 0) for r in runs[name]), default=0) / 2**30
    mlp = median(name, "update_rule_gflops")
    if torch_mm and name == "torch_" + (torch_mm.get("omp_wait_policy") or "").lower():
        mlp = torch_mm.get("update_rule_gflops")
    ratio = lambda a, b: f"{a / b:6.2f}" if a and b else f"{'-':>6}"
    fmt = lambda v, w, p=3: f"{v:{w}.{p}f}" if v is not None else f"{'-':>{w}}"
    share = f"{100 * mlp / peak:6.0f}%" if mlp and peak else f"{'-':>7}"
    print(f"{name:20} {len(runs[name]):6d} {fmt(train, 12)} {ratio(train, torch_train)} "
          f"{fmt(infer, 8)} {ratio(infer, torch_infer)} {rss:12.2f} {fmt(mlp, 11, 0)} {share}")

# The fastest single repetition of each contestant: on a shared machine the
# run least disturbed by other processes.
def fastest(name, key):
    values = [v for r in runs.get(name, []) for v in r.get(key, [])]
    return min(values) if values else None

torch_fastest = {key: min((v for v in (fastest(n, key) for n in torch_names) if v), default=None)
                 for key in ("train_iter_s", "infer_s")}
print()
print("fastest single repetition, ratio to PyTorch's fastest:")
for name in sorted(runs, key=lambda n: (n.startswith("torch"), n)):
    cells = []
    for key, label in (("train_iter_s", "train"), ("infer_s", "infer")):
        v, ref = fastest(name, key), torch_fastest[key]
        cells.append(f"{label} {v:.3f} s ({v / ref:.2f})" if v and ref else f"{label} -")
    print(f"  {name:20} " + ", ".join(cells))
print()
products = [f"{n} {v:.0f}" for n, v in sorted(peaks.items())]
if torch_mm and "torch" not in peaks and torch_mm.get("peak_gflops"):
    products.append(f"torch {torch_mm['peak_gflops']:.0f} (not counted: below its own update rule)")
print("matrix product 2048x2048 float32, GFLOP/s: " + (", ".join(products) or "none measured") +
      (f"; machine peak {peak:.0f}" if peak else "; no machine peak (mednca bench ran with --kernels=false)"))
print("MLP: the update rule of one level-2 training step at the benchmark's sizes, forward and "
      "backward, as each side runs it; of peak: against the machine peak")
EOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
