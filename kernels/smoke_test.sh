#!/usr/bin/env bash
# smoke_test.sh installs the kernels into a temporary Jupyter data directory
# and runs kernels/testdata/smoke.ipynb on mednca-cpu, checking that Go cells
# run, that the project's packages import, and that pictures come back.
#
# Environment: MEDNCA_BIN_DIR as for install.sh (default <repo>/bin).
set -euo pipefail
export GOTOOLCHAIN=go1.27.3
export PYDEVD_DISABLE_FILE_VALIDATION=1

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export JUPYTER_DATA_DIR=$work/jupyter
bash "$repo/kernels/install.sh"

# nbconvert runs the notebook from its own directory, like a user would.
cp "$repo/kernels/testdata/smoke.ipynb" "$work/"
(cd "$work" && jupyter nbconvert --to notebook --execute \
	--ExecutePreprocessor.kernel_name=mednca-cpu --ExecutePreprocessor.timeout=900 \
	smoke.ipynb --output smoke.out.ipynb)

/usr/bin/python3 - "$work/smoke.out.ipynb" <<'PY'
import json, sys
nb = json.load(open(sys.argv[1]))
text, kinds = "", []
for cell in nb["cells"]:
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            text += "".join(out["text"])
        elif out["output_type"] == "error":
            sys.exit("smoke notebook cell failed: %s: %s" % (out.get("ename"), out.get("evalue")))
        else:
            kinds += list(out.get("data", {}))
for want in ["hello from GoNB", "in notebook: true", "live plot done", "growth shown"]:
    if want not in text:
        sys.exit("smoke notebook output lacks %r; got:\n%s" % (want, text))
if kinds.count("image/png") != 1 or kinds.count("text/html") != 2:
    sys.exit("smoke notebook showed %s, expected an image/png (outline grid) and two "
             "text/html (live plot, growth GIF)" % kinds)
print("kernels/smoke_test.sh: mednca-cpu ran the smoke notebook: 1 passed, 0 failed")
PY
