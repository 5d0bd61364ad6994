#!/usr/bin/env bash
# The reference for `inctrl train`: runs two steps of the ORIGINAL InCTRL
# training loop on the CPU with the tiny fixture model and saves the losses,
# gradients and parameters.
#
#   tools/train-parity/run.sh ORIGINAL [OUT_DIR]
#   tools/train-parity/run.sh --time ORIGINAL IMAGES_DIR [time_step.py options]
#
# --time runs time_step.py instead of train_step.py (same venv and patched copy):
# the original's training step at full size (ViT-B-16-plus-240, random init) on
# the CPU, 2 threads, batch 16 (8 normal + 8 anomalous from IMAGES_DIR/nominal and
# its other sub-folders), K = 2; prints one JSON line. See its docstring.
#
# ORIGINAL is a checkout of mala-lab/InCTRL or a bare mirror of it (its HEAD is
# used; the patches expect commit cc535d0 and stop on any other text).
# OUT_DIR defaults to tests/fixtures/train-step/; it gets expected.safetensors,
# batch.json and README.md. The tiny fixtures are read from
# ../shared/fixtures/tiny (FIXTURES overrides).
#
# Steps:
# 1. Python: PyTorch comes from target/torch-venv, the pinned venv that
#    tools/bench-torch.sh makes (made here the same way if it is missing or
#    stale, about 4 GB). The original's other imports are installed with
#    --no-deps from tools/train-parity/requirements.txt into
#    target/train-parity-venv, which sees torch-venv through a .pth file. Both
#    are rebuilt when their pin files change.
# 2. The original source is copied into a temporary folder (nothing of it is
#    kept in this repository) and patched there by patch_original.py, which
#    lists each patch (original expression, replacement, why):
#    P1 CPU instead of CUDA: `.cuda(non_blocking=True)` x4 and
#       `tokenizer(...).cuda()` x2 in open_clip/model.py removed,
#       `.to('cuda')` in open_clip/transformer.py -> `.to(x.device)`;
#    P2 sizes: nothing to patch, the tiny config has the values the original
#       hard-codes (640, 240 px, 225 patches, 12 layers; train_step.py asserts
#       them) and the vision width is never hard-coded;
#    P3 per-sample batching (spec §4.1): the reshapes of model.py L521, L522,
#       L524 that mix batch items for b > 1 -> permutes;
#    P4 a tap keeping the forward's intermediate tensors (no change to the math).
# 3. train_step.py imports the patched original and runs the training step
#    (see its docstring for what is taken from engine_IC.py and the checks).
set -euo pipefail

die() {
    echo "train-parity/run.sh: $*" >&2
    exit 1
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ "${1:-}" = --time ]; then
    [ $# -ge 3 ] || die "usage: $0 --time ORIGINAL_CHECKOUT_OR_BARE_MIRROR IMAGES_DIR [time_step.py options]"
    mode=time
    original=$2
    images=$(cd "$3" 2>/dev/null && pwd) || die "no image folder $3"
    shift 3
else
    [ $# -ge 1 ] && [ $# -le 2 ] || die "usage: $0 ORIGINAL_CHECKOUT_OR_BARE_MIRROR [OUT_DIR]"
    mode=train
    original=$1
    out=${2:-$root/tests/fixtures/train-step}
    fixtures=$(cd "${FIXTURES:-$root/../shared/fixtures/tiny}" 2>/dev/null && pwd) || die "no fixture folder ${FIXTURES:-$root/../shared/fixtures/tiny} (set FIXTURES)"
    [ -f "$fixtures/model.pyth" ] || die "no tiny fixtures at $fixtures (set FIXTURES)"
fi

# --- 1. Python ------------------------------------------------------------------
torch_venv=$root/target/torch-venv
torch_requirements=$root/tools/bench-torch-requirements.txt
if ! cmp -s "$torch_requirements" "$torch_venv/.requirements" 2>/dev/null; then
    # As tools/bench-torch.sh makes it (that file explains the --no-deps list).
    echo "train-parity: installing PyTorch into $torch_venv (about 4 GB, once)" >&2
    rm -rf "$torch_venv"
    "${PYTHON:-python3}" -m venv "$torch_venv" || die "could not make a venv (apt-get install python3-venv)"
    "$torch_venv/bin/pip" install --quiet --no-input --disable-pip-version-check \
        --no-deps --only-binary=:all: -r "$torch_requirements" >&2 || die "could not install PyTorch from PyPI"
    cp "$torch_requirements" "$torch_venv/.requirements"
fi

venv=$root/target/train-parity-venv
requirements=$here/requirements.txt
marker() { cat "$requirements" "$torch_requirements"; }
if ! marker | cmp -s - "$venv/.requirements" 2>/dev/null; then
    echo "train-parity: installing the original's Python dependencies into $venv" >&2
    rm -rf "$venv"
    "$torch_venv/bin/python" -m venv "$venv" || die "could not make a venv at $venv"
    site() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
    site "$torch_venv" >"$(site "$venv")/torch-venv.pth"
    # fvcore has only an sdist (pure Python); everything else is a wheel.
    "$venv/bin/pip" install --quiet --no-input --disable-pip-version-check \
        --no-deps --only-binary=:all: --no-binary=fvcore -r "$requirements" >&2 ||
        die "could not install $requirements from PyPI into $venv"
    marker >"$venv/.requirements"
fi

# --- 2. A patched copy of the original --------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
if [ -f "$original/open_clip/model.py" ]; then
    tar -C "$original" --exclude=.git -cf - . | tar -C "$tmp/src" -xf -
    commit=$(git -C "$original" rev-parse HEAD 2>/dev/null || echo unknown)
elif commit=$(git --git-dir="$original" rev-parse --verify -q 'HEAD^{commit}'); then
    git --git-dir="$original" archive HEAD | tar -C "$tmp/src" -xf -
else
    die "$original is neither an InCTRL checkout nor a git repository"
fi
case $commit in
cc535d0*) ;;
*) echo "train-parity: note: the original is at $commit, not cc535d0 (the patches check their matches)" >&2 ;;
esac
"$venv/bin/python" "$here/patch_original.py" "$tmp/src"

# --- 3. The training step -------------------------------------------------------------
if [ "$mode" = time ]; then
    "$venv/bin/python" "$here/time_step.py" --src "$tmp/src" --images "$images" --commit "$commit" "$@"
else
    "$venv/bin/python" "$here/train_step.py" --src "$tmp/src" --fixtures "$fixtures" --out "$out" --commit "$commit"
fi
