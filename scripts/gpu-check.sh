#!/usr/bin/env bash
# gpu-check.sh checks mednca's xla:cuda backend on a machine with one NVIDIA
# GPU, and times it next to PyTorch on the same GPU.
#
# Usage: scripts/gpu-check.sh        (from the repository root)
#
# The machine needs no network and no Go: it runs the binaries that
# scripts/build-gpu-bundle.sh built elsewhere (bin/mednca, bin/nca.test),
# and Python with jax-cuda13-pjrt (the PJRT CUDA plugin and the pip nvidia-*
# libraries) and PyTorch. Each step has its own time limit and the whole
# stays under $GPU_CHECK_BUDGET seconds (default 540); a failed step is
# recorded and the next one runs.
#
# Results go to $OUT (default ./gpu-out), at most 8 files:
#   summary.txt       each step's exit status and duration, then the key numbers
#   env.log           GPU, driver, Python packages, `mednca backends`
#   tests.log         nca tests (gradients, the hand-written backward pass, firing cells, PyTorch) on xla:cuda
#   bench-xla.log     `mednca bench --backend xla:cuda` (JSON inside)
#   train.log         a 2-epoch synthetic training run on xla:cuda
#   torch-eager.log   PyTorch reference bench on cuda, eager, and matmul ceiling
#   torch-compile.log the same with torch.compile, when it works
# Override $TRAIN_ARGS to change the training command's arguments.
set -u

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit 1
out="${OUT:-$repo/gpu-out}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
budget="${GPU_CHECK_BUDGET:-540}"
start=$SECONDS
summary="$out/summary.txt"
: > "$summary"

# run_step NAME LIMIT CMD... runs CMD with its output in NAME.log, for at
# most LIMIT seconds and never past the budget; records the exit status.
run_step() {
  local name="$1" limit="$2"
  shift 2
  local left=$((budget - (SECONDS - start) - 5))
  if ((left < 20)); then
    echo "$name: skipped, budget of ${budget}s spent" | tee -a "$summary"
    return 0
  fi
  ((limit > left)) && limit=$left
  local t0=$SECONDS
  echo "== $name (limit ${limit}s): $*" | tee -a "$out/$name.log" >&2
  timeout --kill-after=10 "$limit" "$@" >> "$out/$name.log" 2>&1
  local rc=$?
  local note=""
  ((rc == 124 || rc == 137)) && note=" (timed out)"
  echo "$name: exit $rc$note in $((SECONDS - t0))s" | tee -a "$summary"
  return 0
}

# The binaries come from scripts/build-gpu-bundle.sh.
for bin in bin/mednca bin/nca.test; do
  if [[ ! -x "$bin" ]]; then
    echo "gpu-check.sh: $bin missing: run scripts/build-gpu-bundle.sh where Go is installed" | tee -a "$summary"
    exit 1
  fi
done

python="${PYTHON:-python3}"
export GOMLX_NO_AUTO_INSTALL=1

# env.log: what the results depend on.
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  nvidia-smi 2>&1 || echo "nvidia-smi failed"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores"
  echo "glibc: $(ldd --version 2>&1 | head -n 1)"
  "$python" --version 2>&1
  "$python" -m pip list 2>/dev/null | grep -iE '^(jax|nvidia|torch|triton)' || echo "pip list failed"
} > "$out/env.log" 2>&1
run_step env 30 bin/mednca backends

# The plugin, found by the same search the program uses.
plugin="$(bin/mednca backends --plugin-path 2>> "$out/env.log")"
if [[ -n "$plugin" ]]; then
  export MEDNCA_PJRT_PLUGIN="$plugin"
  echo "plugin: $plugin" | tee -a "$summary"
else
  echo "plugin: none found (see env.log); xla:cuda steps will fail" | tee -a "$summary"
fi
export MEDNCA_BACKEND=xla:cuda

# Package tests on the GPU; they run from nca/ like `go test` would.
run_step tests 150 bash -c 'cd nca && exec ../bin/nca.test -test.v -test.timeout 140s \
  -test.run "Gradient|ImageChannel|FireRate|ReflectPad|ParameterCount|SameSeed|Overfit|PyTorch|Backprop|Firing"'

run_step bench-xla 120 bin/mednca bench --backend xla:cuda --reps 5

# A short training run on the built-in synthetic data, in a scratch folder.
train_args="${TRAIN_ARGS:---backend xla:cuda --out $work/train epochs=2 synthetic=80}"
run_step train 120 bash -c "cd '$work' && exec '$repo/bin/mednca' train $train_args"

# PyTorch on the same GPU: eager, then compiled (torch 2.0+).
run_step torch-eager 90 bash -c "'$python' bench/torch_mednca.py bench --device cuda --reps 5 &&
  '$python' bench/torch_mednca.py matmul --device cuda"
run_step torch-compile 150 "$python" bench/torch_mednca.py bench --device cuda --reps 5 --compile

# The numbers, pulled out of the logs for a quick read.
{
  echo
  echo "key numbers (seconds; medians):"
  for log in bench-xla torch-eager torch-compile; do
    [[ -f "$out/$log.log" ]] || continue
    grep -hoE '"(backend|train_iter_s_median|infer_s_median|peak_rss_bytes|peak_gpu_bytes|gflops)": [^,}]*' \
      "$out/$log.log" | tr '\n' ' ' | sed "s/^/  $log: /"
    echo
  done
  grep -hE '^(--- FAIL|--- PASS|FAIL|ok|PASS)' "$out/tests.log" 2>/dev/null | sed 's/^/  tests: /' | head -n 40
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/  gpu now: /'
  echo "total: $((SECONDS - start))s of ${budget}s"
} >> "$summary"
cat "$summary"
rm -rf "$work"
