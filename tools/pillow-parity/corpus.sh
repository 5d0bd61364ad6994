#!/usr/bin/env bash
# Builds the decode corpus that tests/decode_corpus.rs checks the preprocessing
# against, bit for bit:
#
#   tools/pillow-parity/corpus.sh OUT_DIR
#
# OUT_DIR/images/       the generated files (gen_images.py)
# OUT_DIR/reference/    <name>.f32: Pillow's [3, 240, 240] tensor, little-endian
#                       float32, for every file Pillow opens (reference.py)
# OUT_DIR/manifest.json name, format, Pillow mode, size, Pillow's error, props
#
# Python comes from a venv at target/pillow-venv with exactly the pins of
# requirements.txt (made with `python3 -m venv` on first use, from PyPI; on
# Debian this needs the python3-venv package). OUT_DIR is rebuilt only when
# this script, the two Python scripts or the pins change (OUT_DIR/stamp holds
# their hash); PYTHON picks the interpreter for the venv.
set -euo pipefail

die() {
    echo "corpus.sh: $*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: $0 OUT_DIR"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$1
venv="$root/target/pillow-venv"
requirements="$here/requirements.txt"

stamp=$(cat "$here/corpus.sh" "$here/gen_images.py" "$here/reference.py" "$requirements" |
    sha256sum | cut -d' ' -f1)
if [ -f "$out/manifest.json" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "corpus.sh: $out is up to date" >&2
    exit 0
fi

# shellcheck source=../pinned-venv.sh
source "$here/../pinned-venv.sh"
pinned_venv "$venv" "$requirements" corpus.sh

start=$SECONDS
tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp"
"$venv/bin/python" "$here/gen_images.py" "$tmp/images" >&2
"$venv/bin/python" "$here/reference.py" "$tmp/images" "$tmp/reference" "$tmp/manifest.json" >&2
echo "$stamp" >"$tmp/stamp"
rm -rf "$out"
mv "$tmp" "$out"
echo "corpus.sh: built $out in $((SECONDS - start)) s" >&2
