#!/usr/bin/env bash
# PyTorch CPU peer of `inctrl bench`: times the same work with the same protocol
# and prints one JSON object on stdout (progress goes to stderr).
#
#   tools/bench-torch.sh [--runs 5] [--k 2,4,8] > torch.json
#
# On first use it makes target/torch-venv (ignored by git; about 4 GB) and
# installs exactly the pins of tools/bench-torch-requirements.txt from PyPI
# (--no-deps: that file says which of torch's CUDA dependencies are left out and
# why); it reinstalls when that file changes. PYTHON picks the interpreter for
# the venv (CPython >= 3.11).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/target/torch-venv"
requirements="$root/tools/bench-torch-requirements.txt"
marker="$venv/.requirements"

# The marker is a copy of the requirements the venv was built from, so an edited
# pin list rebuilds it instead of silently benchmarking another torch.
if ! cmp -s "$requirements" "$marker" 2>/dev/null; then
    echo "bench-torch: installing PyTorch into $venv (about 4 GB, once)" >&2
    start=$SECONDS
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/pip" install --quiet --no-input --disable-pip-version-check \
        --no-deps --only-binary=:all: -r "$requirements" >&2
    cp "$requirements" "$marker"
    echo "bench-torch: installed in $((SECONDS - start)) s, $(du -sh "$venv" | cut -f1)" >&2
fi

exec "$venv/bin/python" "$root/tools/bench-torch.py" "$@"
