#!/usr/bin/env bash
# install.sh installs what the MedNCA notebooks need and registers their
# Jupyter kernels:
#
#   1. Jupyter (notebook, nbconvert, kernelspec, nbclient, ipykernel) from Debian packages,
#      skipped when already installed;
#   2. GoNB, goimports and gopls, built at the exact versions pinned by the
#      module (tool directives in go.mod and kernels/tools/go.mod);
#   3. the kernel specs kernels/mednca-*/kernel.json, written with absolute
#      paths into $JUPYTER_DATA_DIR/kernels/.
#
# It can run again at any time: every step is idempotent.
#
# Environment (all optional):
#   JUPYTER_DATA_DIR    where kernels are registered (default ~/.local/share/jupyter)
#   MEDNCA_BIN_DIR      where gonb, goimports and gopls go (default <repo>/bin)
#   MEDNCA_KERNELS      kernels to register (default "mednca-cpu mednca-cuda")
#   MEDNCA_PJRT_PLUGIN  PJRT CUDA plugin written into the mednca-cuda kernel
#   MEDNCA_SKIP_APT=1   never call apt-get (fail instead if Jupyter is missing)
set -euo pipefail

export GOTOOLCHAIN=go1.27.3

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin_dir=${MEDNCA_BIN_DIR:-$repo/bin}
data_dir=${JUPYTER_DATA_DIR:-$HOME/.local/share/jupyter}
kernels=${MEDNCA_KERNELS:-mednca-cpu mednca-cuda}
apt_packages=(jupyter-notebook jupyter-nbconvert jupyter-client python3-nbclient python3-ipykernel)

step="starting"
trap 'echo "kernels/install.sh: FAILED while ${step} (line ${LINENO}); see the messages above." >&2' ERR

# say prints a progress line.
say() { echo "kernels/install.sh: $*"; }

# fail prints why the installation cannot go on and exits.
fail() {
	trap - ERR
	echo "kernels/install.sh: FAILED while ${step}: $*" >&2
	exit 1
}

# installed tells whether a Debian package is installed.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

step="checking Go"
command -v go >/dev/null ||
	fail "no 'go' on PATH; install Go (1.21 or newer) first, it fetches go1.27.3 itself"
go_version=$(go env GOVERSION) || fail "'go env GOVERSION' failed with GOTOOLCHAIN=$GOTOOLCHAIN"
[[ "$go_version" == go1.27.3 ]] || fail "GOTOOLCHAIN=go1.27.3 gives $go_version, expected go1.27.3"
say "using $go_version"

step="installing Jupyter from Debian packages"
missing=()
for p in "${apt_packages[@]}"; do
	installed "$p" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	say "Jupyter packages already installed"
elif [[ "${MEDNCA_SKIP_APT:-}" == 1 ]]; then
	fail "missing Debian packages ${missing[*]} and MEDNCA_SKIP_APT=1; install them first"
else
	sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null || fail "need root (or sudo) to install ${missing[*]}"
		sudo=(sudo)
	fi
	say "installing ${missing[*]}"
	"${sudo[@]}" apt-get update
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}"
fi
command -v jupyter >/dev/null || fail "'jupyter' is still not on PATH after installing ${apt_packages[*]}"

step="building gonb and goimports into $bin_dir"
mkdir -p "$bin_dir"
(cd "$repo" && go build -o "$bin_dir/" github.com/janpfeifer/gonb golang.org/x/tools/cmd/goimports)

step="building gopls into $bin_dir"
(cd "$repo/kernels/tools" && go build -o "$bin_dir/gopls" golang.org/x/tools/gopls)
say "built $(cd "$bin_dir" && echo gonb goimports gopls) in $bin_dir"

step="locating the PJRT CUDA plugin"
plugin=${MEDNCA_PJRT_PLUGIN:-}
if [[ -z "$plugin" && " $kernels " == *" mednca-cuda "* ]]; then
	# The mednca command searches where PJRT plugins get installed; it exits
	# non-zero when there is none, and the variable then stays unset.
	plugin=$(cd "$repo" && go run ./cmd/mednca backends --plugin-path 2>/dev/null) || plugin=""
fi
if [[ -n "$plugin" ]]; then
	say "PJRT CUDA plugin: $plugin"
elif [[ " $kernels " == *" mednca-cuda "* ]]; then
	say "no PJRT CUDA plugin found (set MEDNCA_PJRT_PLUGIN); mednca-cuda will look for it when it starts"
fi

step="registering kernels in $data_dir/kernels"
toolchain_bin=$(go env GOROOT)/bin
kernel_path="$bin_dir:$toolchain_bin:$(dirname "$(command -v go)"):/usr/local/bin:/usr/bin:/bin"
logo=$(go env GOMODCACHE)/github.com/janpfeifer/gonb@v0.11.5/internal/kernel/Go_gopher_favicon.svg
for k in $kernels; do
	template="$repo/kernels/$k/kernel.json"
	[[ -f "$template" ]] || fail "no kernel spec $template; MEDNCA_KERNELS lists unknown kernel '$k'"
	dest="$data_dir/kernels/$k"
	mkdir -p "$dest"

	# Python (a dependency of Jupyter) writes the JSON, so any path is quoted right.
	/usr/bin/python3 - "$template" "$dest/kernel.json" "$bin_dir/gonb" "$repo" "$kernel_path" \
		"$plugin" <<'PY'
import json, os, sys
template, dest, gonb, repo, path, plugin = sys.argv[1:]
subst = {"@GONB_BIN@": gonb, "@REPO@": repo, "@PATH@": path, "@MEDNCA_PJRT_PLUGIN@": plugin}
def fill(v):
    if isinstance(v, str):
        for key, val in subst.items():
            v = v.replace(key, val)
        return v
    if isinstance(v, list):
        return [fill(x) for x in v]
    if isinstance(v, dict):
        return {k: fill(x) for k, x in v.items()}
    return v
spec = fill(json.load(open(template)))
if spec.get("env", {}).get("MEDNCA_PJRT_PLUGIN") == "":
    del spec["env"]["MEDNCA_PJRT_PLUGIN"]  # Unset, so discovery runs at start.
tmp = dest + ".tmp"
with open(tmp, "w") as f:
    json.dump(spec, f, indent=2)
    f.write("\n")
os.replace(tmp, dest)
PY
	[[ -f "$logo" ]] && cp "$logo" "$dest/logo-svg.svg"
	say "registered $k in $dest"
done

step="checking the registered kernels"
listed=$(JUPYTER_DATA_DIR="$data_dir" PYDEVD_DISABLE_FILE_VALIDATION=1 jupyter kernelspec list)
for k in $kernels; do
	grep -q "^ *$k " <<<"$listed" || fail "'jupyter kernelspec list' does not show $k:"$'\n'"$listed"
done
say "done; run notebooks with: jupyter nbconvert --to notebook --execute" \
	"--ExecutePreprocessor.kernel_name=mednca-cpu NOTEBOOK.ipynb"
