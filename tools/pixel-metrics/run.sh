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

# shellcheck source=../pinned-venv.sh
source "$here/../pinned-venv.sh"
pinned_venv "$venv" "$requirements" pixel-metrics/run.sh

"$venv/bin/python" "$here/reference.py" "$1" "$2"
