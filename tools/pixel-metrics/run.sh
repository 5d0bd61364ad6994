#!/usr/bin/env bash
# The independent reference for tests/pixel_metrics.rs:
#
#   tools/pixel-metrics/run.sh IN.json OUT.json
#
# runs reference.py (pixel AUROC with scikit-learn, a straightforward
# per-region PRO, scipy's Gaussian filter, numpy's .npy reader) on the
# synthetic maps and masks in IN.json. Python comes from a venv at
# target/metrics-venv with exactly the pins of requirements.txt (made with
# `python3 -m venv` on first use, from PyPI; on Debian this needs the
# python3-venv package); PYTHON picks the interpreter for the venv.
set -euo pipefail

die() {
    echo "pixel-metrics/run.sh: $*" >&2
    exit 1
}

[ $# -eq 2 ] || die "usage: $0 IN.json OUT.json"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
venv="$root/target/metrics-venv"
requirements="$here/requirements.txt"
python=${PYTHON:-python3}

# The venv's marker is a copy of the pins it was built from, so edited pins
# rebuild it rather than silently keeping other versions.
if ! cmp -s "$requirements" "$venv/.requirements" 2>/dev/null || [ ! -x "$venv/bin/python" ]; then
    command -v "$python" >/dev/null ||
        die "$python not found: the pixel metrics reference needs Python 3 (apt-get install python3 python3-venv)"
    "$python" -c 'import ensurepip, venv' 2>/dev/null ||
        die "$python cannot make a virtual environment (no venv/ensurepip module): apt-get install python3-venv"
    echo "pixel-metrics/run.sh: installing $(grep -v '^#' "$requirements" | xargs) into $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv" || die "'$python -m venv $venv' failed (on Debian: apt-get install python3-venv)"
    "$venv/bin/python" -m pip --version >/dev/null 2>&1 ||
        die "the venv at $venv has no pip (on Debian: apt-get install python3-venv python3-pip)"
    "$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
        --only-binary=:all: -r "$requirements" >&2 ||
        die "could not install $requirements from PyPI into $venv (network? Python >= 3.11?)"
    cp "$requirements" "$venv/.requirements"
fi

"$venv/bin/python" "$here/reference.py" "$1" "$2"
