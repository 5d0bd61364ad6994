#!/usr/bin/env bash
# Where the native CPU time of a full-size query goes: samples `inctrl bench`
# (K = 1 prompt sets and warm queries, random weights) with perf and prints the
# hottest functions. Part of the samples is the bench's own setup (random
# inputs: `random`, `sampler`, `chacha`, and the page clearing under them).
#
#   tools/profile.sh [RUNS]        (default 20; needs `perf`: apt-get install linux-perf)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
command -v perf >/dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 1; }
cargo build --profile native --bin inctrl >&2
data=$(mktemp)
trap 'rm -f "$data"' EXIT
# cpu-clock works in VMs without hardware counters.
perf record -q -e cpu-clock -F 2000 -g -o "$data" target/native/inctrl bench --runs "$runs" --k 1 >&2
perf report -i "$data" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -n 25
