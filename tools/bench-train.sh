#!/usr/bin/env bash
# Step time of `inctrl train` against the original's training step, on this
# machine, at full size (ViT-B/16+ 240 px, random weights), batch 16, K = 2:
#
#   tools/bench-train.sh [INCTRL_CHECKOUT]
#
# Ours: `inctrl train` on textile images (PyPI conformal-clip-data, as the
# training test), reporting the one-off feature-cache time and the median
# step. The original (only with INCTRL_CHECKOUT, a checkout or bare mirror of
# mala-lab/InCTRL, which is never stored here): tools/train-parity/run.sh
# --time, its step as engine_IC.py runs it (about 18 minutes here: 4 steps of
# about 200 s and a forward). Prints a table on stdout.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work="$root/target/bench-train"
steps=8
cd "$root"
cargo build --locked --profile native --bin inctrl >&2
inctrl="$root/target/native/inctrl"

textile=$(python3 -c 'import conformal_clip_data, os; print(os.path.dirname(conformal_clip_data.__file__))' 2>/dev/null) ||
    { echo "bench-train: python3 -m pip install conformal-clip-data==0.1.4 first" >&2; exit 1; }
textile="$textile/data/textile_images/simulated"

# MVTec layout under a category with built-in text prototypes (the random bundle has no text tower).
rm -rf "$work/data" "$work/run"
category="$work/data/carpet"
mkdir -p "$category/train/good" "$category/test/good" "$category/test/local" "$category/test/global"
link() { ls "$textile/$1" | sort | sed -n "$2" | while read -r f; do ln -s "$textile/$1/$f" "$category/$3/$f"; done; }
link nominal 1,24p train/good
link nominal 25,28p test/good
link local 1,12p test/local
link global 1,12p test/global
[ -f "$work/full.bpk" ] || "$inctrl" random-bundle --out "$work/full.bpk" >&2

"$inctrl" train --weights "$work/full.bpk" --data "$work/data" --out "$work/run" \
    --batch-size 16 --shot 2 --steps-per-epoch "$steps" --epochs 1 2> "$work/train.log"
cache_s=$(grep -o 'encoding train images: [0-9/]* images in [0-9.]* s' "$work/train.log" | grep -o '[0-9.]* s$' | cut -d' ' -f1)
# Median step from train.csv's cumulative seconds, the first step (warm-up) left out.
ours_s=$(tail -n +2 "$work/run/train.csv" | cut -d, -f6 |
    awk 'NR > 1 { print $1 - previous } { previous = $1 }' | sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')

echo "| | step (s, median) | once per run |"
echo "|---|---|---|"
echo "| inctrl train | $ours_s | feature cache of 52 images: $cache_s s |"
if [ $# -ge 1 ]; then
    original=$(tools/train-parity/run.sh --time "$1" "$textile" | tail -n 1)
    original_s=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["original_step_s"])' "$original")
    echo "| original (PyTorch, CPU) | $original_s | |"
    python3 -c 'import sys; o, t = map(float, sys.argv[1:]); print(f"\nours / original: {o / t:.4f} ({t / o:.0f}x faster per step)")' "$ours_s" "$original_s"
fi
