# Sourced by the scripts that run Python references in tests
# (tools/pillow-parity/corpus.sh, tools/pixel-metrics/run.sh):
#
#   pinned_venv VENV REQUIREMENTS WHAT
#
# makes sure VENV holds exactly the pins of REQUIREMENTS (rebuilding it when
# they change: its marker is a copy of the pins it was built from), with
# clear errors for a missing python3, venv module or pip, or a failed install.
# WHAT names the caller in messages; PYTHON picks the interpreter.

pinned_venv() {
    local venv=$1 requirements=$2 what=$3 python=${PYTHON:-python3}
    fail() {
        echo "$what: $*" >&2
        exit 1
    }
    if cmp -s "$requirements" "$venv/.requirements" 2>/dev/null && [ -x "$venv/bin/python" ]; then
        return 0
    fi
    command -v "$python" >/dev/null ||
        fail "$python not found: this needs Python 3 (apt-get install python3 python3-venv)"
    "$python" -c 'import ensurepip, venv' 2>/dev/null ||
        fail "$python cannot make a virtual environment (no venv/ensurepip module): apt-get install python3-venv"
    echo "$what: installing $(grep -v '^#' "$requirements" | xargs) into $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv" || fail "'$python -m venv $venv' failed (on Debian: apt-get install python3-venv)"
    "$venv/bin/python" -m pip --version >/dev/null 2>&1 ||
        fail "the venv at $venv has no pip (on Debian: apt-get install python3-venv python3-pip)"
    "$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
        --only-binary=:all: -r "$requirements" >&2 ||
        fail "could not install $requirements from PyPI into $venv (network? Python >= 3.11?)"
    cp "$requirements" "$venv/.requirements"
}
