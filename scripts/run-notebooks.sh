#!/usr/bin/env bash
# run-notebooks.sh runs the notebooks of notebooks/ top to bottom on the
# mednca-cpu kernel, as CI does, and fails (exit status 1) on any problem:
#
#   1. registers the Jupyter kernels with kernels/install.sh, unless mednca-cpu
#      is already registered with its gonb binary in place;
#   2. executes every notebook with nbconvert into the output folder and
#      exports it to HTML beside it;
#   3. inspects the executed notebooks (scripts/run-notebooks-check.py): no
#      cell errors, no Go build or run failures, the expected pictures; and
#      fails a notebook that took longer than the time limit;
#   4. converts every notebook with `mednca nb2go` and builds the program;
#   5. runs the converted training notebook with tiny settings, then
#      `mednca train` with the same settings and seed (and the same resume),
#      and checks that both metrics.csv files agree.
#
# Usage: scripts/run-notebooks.sh [NOTEBOOK.ipynb ...]   (default: notebooks/*.ipynb)
#
# Environment (all optional):
#   MEDNCA_NOTEBOOKS_OUT     output folder (default <repo>/output/notebooks)
#   MEDNCA_NOTEBOOK_LIMIT    seconds a notebook may take (default 180)
#   MEDNCA_CELL_TIMEOUT      seconds one cell may take before nbconvert stops it (default 600)
#   JUPYTER_DATA_DIR, MEDNCA_BIN_DIR   as for kernels/install.sh
#
# The notebooks train on the built-in synthetic lesions; notebook 1 shows the
# real ISIC 2018 images when MEDNCA_ISIC_DIR is set or ../shared/isic2018
# exists next to the repository.
set -euo pipefail

export GOTOOLCHAIN=go1.27.3
export PYDEVD_DISABLE_FILE_VALIDATION=1

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${MEDNCA_NOTEBOOKS_OUT:-$repo/output/notebooks}
limit=${MEDNCA_NOTEBOOK_LIMIT:-180}
cell_timeout=${MEDNCA_CELL_TIMEOUT:-600}
check="$repo/scripts/run-notebooks-check.py"
failures=()

say() { echo "run-notebooks: $*"; }

# failed records a failure; the script goes on and reports all at the end.
failed() {
	failures+=("$*")
	echo "run-notebooks: FAILED: $*" >&2
}

# finish prints the outcome and exits with it.
finish() {
	if ((${#failures[@]} > 0)); then
		echo "run-notebooks: ${#failures[@]} problem(s):" >&2
		printf '  - %s\n' "${failures[@]}" >&2
		exit 1
	fi
	say "all checks passed; executed notebooks and HTML in $out"
	exit 0
}

# The notebooks, as absolute paths.
notebooks=()
if (($# > 0)); then
	for nb in "$@"; do
		[[ -f "$nb" ]] || { echo "run-notebooks: no notebook $nb" >&2; exit 2; }
		notebooks+=("$(cd "$(dirname "$nb")" && pwd)/$(basename "$nb")")
	done
else
	notebooks=("$repo"/notebooks/*.ipynb)
	[[ -f "${notebooks[0]}" ]] || { echo "run-notebooks: no notebooks in $repo/notebooks" >&2; exit 2; }
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

# 1. Kernels: install.sh is idempotent but builds tools, so it runs only when
# mednca-cpu is missing, its gonb binary is gone or it serves another checkout.
data_dir=${JUPYTER_DATA_DIR:-$HOME/.local/share/jupyter}
spec="$data_dir/kernels/mednca-cpu/kernel.json"
read -r gonb go_work < <(python3 -c '
import json, sys
argv = json.load(open(sys.argv[1]))["argv"]
work = [a.split("=", 1)[1] for a in argv if a.startswith("--go_work=")]
print(argv[0], work[0] if work else "-")' "$spec" 2>/dev/null || echo "- -")
if [[ ! -x "$gonb" || "$go_work" != "$repo" ]] || ! command -v jupyter >/dev/null; then
	say "registering the kernels (kernels/install.sh)"
	MEDNCA_KERNELS=${MEDNCA_KERNELS:-mednca-cpu} bash "$repo/kernels/install.sh"
else
	say "kernel mednca-cpu is registered ($spec)"
fi

# Cells link against the project's packages: compile them first, with the
# kernel's GOEXPERIMENT, so the time limit measures the notebooks and not a
# cold build cache.
say "compiling the project's packages for the kernel"
(cd "$repo" && GOEXPERIMENT=simd go build ./isic ./nca ./plotting github.com/janpfeifer/must)

# 2 and 3. Execute, export, inspect, time.
timings=()
executed=()
for nb in "${notebooks[@]}"; do
	name=$(basename "$nb" .ipynb)
	say "executing $name"
	start=$(date +%s.%N)
	# --allow-errors keeps going after a failing cell, so the check below
	# reports every problem; nbconvert itself fails on timeouts or a dead kernel.
	if ! (cd "$(dirname "$nb")" && jupyter nbconvert --to notebook --execute --allow-errors \
		--ExecutePreprocessor.kernel_name=mednca-cpu --ExecutePreprocessor.timeout="$cell_timeout" \
		--output-dir "$out" --output "$name" "$nb"); then
		failed "$name: nbconvert could not execute it (see its messages above)"
		continue
	fi
	seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
	timings+=("$(printf '%-28s %4d s' "$name" "$seconds")")
	executed+=("$out/$name.ipynb")
	if ((seconds > limit)); then
		failed "$name took ${seconds} s, more than the limit of ${limit} s (MEDNCA_NOTEBOOK_LIMIT)"
	fi
	jupyter nbconvert --to html --output-dir "$out" "$out/$name.ipynb" ||
		failed "$name: exporting the executed notebook to HTML failed"
done
say "wall time per notebook (limit ${limit} s):"
printf '  %s\n' "${timings[@]}"
if ((${#executed[@]} > 0)); then
	python3 "$check" "${executed[@]}" || failed "executed notebooks have problems (listed above)"
fi

# 4. nb2go: every notebook converts and builds. The programs live in a
# module of their own in a Go workspace with the repository, as notebook
# cells do under the kernel.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/progs" "$work/bin"
(cd "$work/progs" && go mod init mednca.local/notebooks >/dev/null 2>&1)
(cd "$work" && go work init ./progs "$repo")
say "building mednca"
(cd "$repo" && GOEXPERIMENT=simd go build -o "$work/bin/mednca" ./cmd/mednca) || {
	failed "go build ./cmd/mednca failed"
	finish
}
for nb in "${notebooks[@]}"; do
	name=$(basename "$nb" .ipynb)
	if ! "$work/bin/mednca" nb2go --strict "$nb" -o "$work/progs/$name"; then
		failed "$name: mednca nb2go --strict could not convert it"
		continue
	fi
	(cd "$work" && GOEXPERIMENT=simd go build -o "$work/bin/$name" "./progs/$name") ||
		failed "$name: the program converted by nb2go does not build"
done

# run_folder prints the first run folder under $1 (each holds only one here).
run_folder() {
	local runs=("$1"/training_*)
	echo "${runs[0]}"
}

# 5. The converted training notebook trains like `mednca train`. The settings
# name every key the notebook sets, so the notebook's own values do not
# matter; both resume from epoch 1 to 2 as the notebook does.
tiny="size=32,scale=2,patch=16,steps1=4,steps2=4,hidden=16,synthetic=60,batch=4,lr=4e-3,gallery=2,epochs=1"
if [[ -x "$work/bin/03_training" ]]; then
	say "training with the converted 03_training and with mednca train: $tiny, resumed to epoch 2"
	export MEDNCA_BACKEND=go
	if "$work/bin/03_training" --set "$tiny" --resume_to 2 --out "$work/runs/nb2go" &&
		"$work/bin/mednca" train "$tiny" --out "$work/runs/train" &&
		"$work/bin/mednca" train --resume "$(run_folder "$work/runs/train")" epochs=2; then
		python3 "$check" --metrics "$(run_folder "$work/runs/nb2go")/metrics.csv" \
			"$(run_folder "$work/runs/train")/metrics.csv" ||
			failed "the converted training notebook and mednca train disagree (rows above)"
	else
		failed "training with the converted 03_training or with mednca train failed (messages above)"
	fi
elif [[ " ${notebooks[*]} " == *"/03_training.ipynb "* ]]; then
	failed "no converted 03_training program to compare with mednca train"
fi

finish
