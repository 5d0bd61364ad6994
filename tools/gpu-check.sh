#!/usr/bin/env bash
# One-shot GPU check, for a lent GPU machine or lavapipe: given built `inctrl`
# binaries, it runs the parity check against the original implementation's
# fixtures on the GPU (and on the CPU, for comparison), counts what a warm query
# makes the GPU do, and times the full-size model on the GPU next to the CPU in
# the same run; with --browser-inctrl, also a build with the browser's kernel
# choices (no autotune), to estimate the browser's WebGPU speed natively. The
# full run also checks and times the opt-in f16 compute mode on the GPU.
# Needs nothing from the network; prints one markdown table.
#
#   tools/gpu-check.sh [--short] [--inctrl PATH] [--browser-inctrl PATH] [--fusion-inctrl PATH] [--fixtures DIR]
#
# --short: the fixtures' tiny model for counts and timings, one timed run, K = 2
# (CI on lavapipe, where the full-size model takes minutes per query); default:
# the full-size model, 5 runs, K = 2,4,8, and f16 (skipped by --short: each
# f16 process autotunes its kernels anew, minutes on lavapipe; tests/cli.rs
# checks f16 on lavapipe).
# Build the binaries with
#   cargo build --profile native --bin inctrl                        (target/native/inctrl)
#   cargo build --profile native --bin inctrl --no-default-features --features wgpu \
#       --target-dir target/browser-kernels                          (no autotune)
#   cargo build --profile native --bin inctrl --features fusion --target-dir target/fusion
#                                                                     (Burn's kernel fusion)
set -euo pipefail
cd "$(dirname "$0")/.."

inctrl=target/native/inctrl
browser_inctrl=""
fusion_inctrl=""
fixtures=../shared/fixtures/tiny
runs=5
ks=2,4,8
short=0
while [ $# -gt 0 ]; do
  case "$1" in
    --short) short=1; runs=1; ks=2 ;;
    --inctrl) inctrl=$2; shift ;;
    --browser-inctrl) browser_inctrl=$2; shift ;;
    --fusion-inctrl) fusion_inctrl=$2; shift ;;
    --fixtures) fixtures=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$inctrl" ] || { echo "no inctrl binary at $inctrl (see the usage above)" >&2; exit 2; }
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
model=()
size="full size"
if [ "$short" = 1 ]; then
  model=(--config "$fixtures/config.json")
  size="tiny model"
fi
rows=()
row() { rows+=("| $1 | $2 |"); }
log() { printf '%s\n' "$*" >&2; }

# parity DEVICE PRECISION BOUND: one table row; fails beyond BOUND.
parity() {
  local device=$1 precision=$2 bound=$3 json worst
  json=$(python3 tools/gpu-parity.py "$inctrl" "$fixtures" --device "$device" --precision "$precision")
  worst=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(max(r["max_final_diff"], r["max_map_diff"]))' "$json")
  local verdict=FAIL
  python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$worst" "$bound" && verdict=ok
  row "parity with the original, $device, $precision ($(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["queries"])' "$json") queries)" \
    "$verdict: largest difference $worst (final score and patch map; bound $bound)"
  [ "$verdict" = ok ]
}

# Median ms of a measurement in an `inctrl bench` table.
measurement() { awk -F'|' -v what="$2" '$2 ~ what { gsub(/ ms| /, "", $3); print $3; exit }' <<<"$1"; }

log "gpu-check: parity on wgpu and on the CPU"
status=0
parity wgpu f32 1e-4 || status=1
parity cpu f32 1e-4 || status=1
# f16 rounds every activation to 11 bits: a looser bound (measured: 1e-3 on lavapipe).
if [ "$short" = 0 ]; then
  parity wgpu f16 2e-3 || status=1
fi

log "gpu-check: work per warm query on wgpu"
counts=$("$inctrl" bench --device wgpu --counts "${model[@]}")
log "$counts"
query_counts=$(awk -F'|' '$2 ~ /query/ { gsub(/ /, "", $3); gsub(/ /, "", $4); gsub(/ /, "", $5); print $3 " kernel launches, " $4 " upload(s), " $5 " readback(s)"; exit }' <<<"$counts")
row "work per warm query, wgpu, $size" "$query_counts"

log "gpu-check: timing on the CPU and on wgpu ($runs runs, K = $ks)"
cpu=$("$inctrl" bench --device cpu --runs "$runs" --k "$ks" "${model[@]}")
gpu=$("$inctrl" bench --device wgpu --runs "$runs" --k "$ks" "${model[@]}")
log "$cpu"
log "$gpu"
browser=""
if [ -n "$browser_inctrl" ]; then
  log "gpu-check: timing with the browser's kernel choices"
  browser=$("$browser_inctrl" bench --device wgpu --runs "$runs" --k "$ks" "${model[@]}")
  log "$browser"
fi
fused=""
if [ -n "$fusion_inctrl" ]; then
  log "gpu-check: timing and counts with kernel fusion"
  fused=$("$fusion_inctrl" bench --device wgpu --runs "$runs" --k "$ks" "${model[@]}")
  log "$fused"
  fused_counts=$("$fusion_inctrl" bench --device wgpu --counts "${model[@]}")
  row "work per warm query, wgpu with fusion, $size" \
    "$(awk -F'|' '$2 ~ /query/ { gsub(/ /, "", $3); print $3 " kernel launches"; exit }' <<<"$fused_counts")"
fi
half=""
if [ "$short" = 0 ]; then
  log "gpu-check: timing in f16 on wgpu"
  half=$("$inctrl" bench --device wgpu --precision f16 --runs "$runs" --k "$ks" "${model[@]}" 2>&1) ||
    row "f16 on wgpu" "not available: $(tail -n 1 <<<"$half")"
  log "$half"
fi
for what in ${ks//,/ } query; do
  label=$([ "$what" = query ] && echo "query (K=4, warm)" || echo "prompt set K=$what")
  pattern=$([ "$what" = query ] && echo "query" || echo "prompt set K=$what ")
  c=$(measurement "$cpu" "$pattern")
  g=$(measurement "$gpu" "$pattern")
  text="wgpu $g ms, CPU $c ms: wgpu/CPU $(python3 -c "print(f'{$g / $c:.2f}')")"
  if [ -n "$browser" ]; then
    b=$(measurement "$browser" "$pattern")
    text="$text; browser kernels $b ms ($(python3 -c "print(f'{$b / $g:.2f}')")× wgpu)"
  fi
  if [ -n "$fused" ]; then
    u=$(measurement "$fused" "$pattern")
    text="$text; fused $u ms ($(python3 -c "print(f'{$u / $g:.2f}')")× unfused)"
  fi
  h=$(measurement "$half" "$pattern")
  if [ -n "$h" ]; then
    text="$text; f16 $h ms ($(python3 -c "print(f'{$h / $g:.2f}')")× f32)"
  fi
  row "$label, $size" "$text"
done

adapter=$(awk -F': ' '/^device:/ { print $2; exit }' <<<"$counts")
echo "gpu-check ($adapter; $(date -u +%Y-%m-%dT%H:%MZ))"
echo "| check | result |"
echo "|---|---|"
printf '%s\n' "${rows[@]}"
exit $status
