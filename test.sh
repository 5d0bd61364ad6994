#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine with a Rust toolchain.
# Installs what is missing (Mesa lavapipe for native wgpu, Debian's chromium and
# playwright-core for the browser tests, the ELPV dataset and textile images
# for the evaluation and training tests), then: Rust tests, the browser package,
# and the demo page in headless chromium on the CPU and WebGPU backends.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n=== %s\n' "$*"; }
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

missing=()
[ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] || missing+=(mesa-vulkan-drivers libvulkan1)
command -v chromium >/dev/null || missing+=(chromium)
# The decode-corpus test makes a venv for its pinned Pillow (tools/pillow-parity/corpus.sh).
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -d tools/node_modules/playwright-core ] || [ ! -d tools/node_modules/axe-core ]; then
  step "installing playwright-core (drives Debian's chromium; no browser download) and axe-core"
  (cd tools && npm ci --no-audit --no-fund)
fi
if ! python3 -c "import conformal_clip_data" 2>/dev/null; then
  step "installing textile images for the training test (PyPI conformal-clip-data, MIT; never committed)"
  python3 -m pip install --quiet --disable-pip-version-check conformal-clip-data==0.1.4
fi
if ! python3 -c "import elpv_dataset" 2>/dev/null; then
  step "installing the ELPV dataset for the evaluation test (PyPI elpv-dataset, CC BY-NC-SA; never committed)"
  python3 -m pip install --quiet --disable-pip-version-check elpv-dataset==1.0.0.post1
fi
# wgpu's GL probe complains without a runtime dir; give it an empty private one.
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
export XDG_RUNTIME_DIR

step "cargo fmt --check"
cargo fmt --all -- --check

step "native tests (CPU flex backend, wgpu on lavapipe, CLI)"
cargo test --locked --profile native

step "the one-shot GPU check, short, on lavapipe"
cargo build --locked --profile native --bin inctrl
tools/gpu-check.sh --short

step "browser package and demo"
./build.sh

step "TypeScript declarations: strict tsc --noEmit over tests/types/example.ts"
[ -x tools/node_modules/.bin/tsc ] || (cd tools && npm ci --no-audit --no-fund)
tools/node_modules/.bin/tsc -p tests/types

step "browser tests (headless chromium: WebAssembly CPU and WebGPU on SwiftShader)"
FIXTURES=../shared/fixtures/tiny
CLI=target/native/inctrl
"$CLI" convert --checkpoint "$FIXTURES/model.pyth" --config "$FIXTURES/config.json" --out www/models/tiny.bpk
"$CLI" score --weights www/models/tiny.bpk --category metal_nut \
  --prompt "$FIXTURES/images/nominal_a.jpg" --prompt "$FIXTURES/images/nominal_b.jpg" \
  "$FIXTURES"/images/nominal_{c,d}.jpg "$FIXTURES"/images/{local,global}_defect.jpg \
  "$FIXTURES"/images/gray_wide.png "$FIXTURES"/images/rgba_tall.png "$FIXTURES"/images/thin_strip.jpg \
  > target/browser-expected.json
# The API tests: the page's own checkpoint conversion (float16, text tower) scored
# with a category outside the built-in table, the same bundle as a changed file for
# the cache test, and a second prompt set scored with a second category.
"$CLI" convert --checkpoint "$FIXTURES/model.pyth" --config "$FIXTURES/config.json" --half --with-text \
  --out target/browser-tiny-f16.bpk
"$CLI" score --weights target/browser-tiny-f16.bpk --category widget \
  --prompt "$FIXTURES/images/nominal_a.jpg" --prompt "$FIXTURES/images/nominal_b.jpg" \
  "$FIXTURES"/images/{local,global}_defect.jpg > target/browser-expected-converted.json
"$CLI" score --weights www/models/tiny.bpk --category candle \
  --prompt "$FIXTURES/images/nominal_c.jpg" --prompt "$FIXTURES/images/nominal_d.jpg" \
  "$FIXTURES"/images/{local,global}_defect.jpg "$FIXTURES"/images/nominal_a.jpg \
  > target/browser-expected-candle.json
# Thresholds and maps (tests/browser/decisions.test.mjs): calibrated from other normal
# images (a prompt image among them is left out) and leave-one-out with K = 2 and 3;
# full-size anomaly maps as .npy, smoothed (the default sigma) and not.
calibrate() { "$CLI" calibrate --weights www/models/tiny.bpk --category metal_nut "$@"; }
calibrate --prompt "$FIXTURES/images/nominal_a.jpg" --prompt "$FIXTURES/images/nominal_b.jpg" --false-alarm 0.34 \
  "$FIXTURES"/images/{nominal_a,nominal_c,nominal_d,thin_strip}.jpg "$FIXTURES"/images/{gray_wide,rgba_tall}.png \
  > target/browser-calibration-normals.json
calibrate --prompt "$FIXTURES/images/nominal_a.jpg" --prompt "$FIXTURES/images/nominal_b.jpg" \
  > target/browser-calibration-loo2.json
calibrate --prompt "$FIXTURES/images/nominal_a.jpg" --prompt "$FIXTURES/images/nominal_b.jpg" \
  --prompt "$FIXTURES/images/nominal_c.jpg" --false-alarm 0.5 > target/browser-calibration-loo3.json
rm -rf target/browser-maps target/browser-maps-sharp
for sigma in 4 0; do
  [ "$sigma" = 0 ] && maps=target/browser-maps-sharp || maps=target/browser-maps
  "$CLI" score --weights www/models/tiny.bpk --category metal_nut \
    --prompt "$FIXTURES/images/nominal_a.jpg" --prompt "$FIXTURES/images/nominal_b.jpg" --sigma "$sigma" --maps "$maps" \
    "$FIXTURES"/images/{gray_wide,rgba_tall}.png "$FIXTURES"/images/local_defect.jpg > /dev/null
done
node --test --test-concurrency=1 tests/browser/
echo "screenshots: test-artifacts/"
