#!/usr/bin/env bash
# Builds the browser package (pkg/) and the demo page (www/): two WebAssembly
# modules, inctrl (WebGPU, and the CPU on one thread) and inctrl_threads (the
# CPU on a pool of Web Workers, for cross-origin isolated pages).
#   ./build.sh            build
#   ./build.sh --serve    build, then serve the demo on http://127.0.0.1:8080/
# Installs what is missing: the wasm32 target, the pinned toolchain's rust-src
# (for the threaded module's std), and wasm-bindgen-cli at the exact version in
# Cargo.lock (from crates.io).
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n=== %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

WASM_BINDGEN=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN"; then
  step "installing wasm-bindgen-cli $WASM_BINDGEN (matches Cargo.lock)"
  # No --locked: its lockfile pins a webpki-roots the registry mirror lacks.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN"
fi

step "compiling the WebAssembly module"
cargo rustc --locked --profile wasm --target wasm32-unknown-unknown --lib --crate-type cdylib \
  --no-default-features --features wgpu

# The threaded module needs a std built with atomics and shared memory: that
# takes -Zbuild-std, a nightly feature, which RUSTC_BOOTSTRAP=1 unlocks on this
# pinned stable toolchain (whose rust-src is the std source). Its own target
# directory keeps the two builds' different flags from invalidating each other.
THREADS_TOOLCHAIN=1.95.0
if ! rustup run "$THREADS_TOOLCHAIN" rustc --version >/dev/null 2>&1; then
  step "installing the Rust $THREADS_TOOLCHAIN toolchain for the threaded module"
  rustup toolchain install "$THREADS_TOOLCHAIN" --profile minimal
fi
for component in rust-src; do
  rustup component list --toolchain "$THREADS_TOOLCHAIN" --installed | grep -q "^$component" ||
    rustup component add "$component" --toolchain "$THREADS_TOOLCHAIN"
done
rustup target list --toolchain "$THREADS_TOOLCHAIN" --installed | grep -qx wasm32-unknown-unknown ||
  rustup target add wasm32-unknown-unknown --toolchain "$THREADS_TOOLCHAIN"

step "compiling the threaded WebAssembly module (CPU kernels on Web Workers)"
THREADS_FLAGS=(
  -C target-feature=+atomics,+bulk-memory,+simd128
  --cfg 'getrandom_backend="wasm_js"'
  # Current toolchains no longer make threaded memory by themselves.
  -C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296
  -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size
  -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base
)
RUSTC_BOOTSTRAP=1 RUSTFLAGS="${THREADS_FLAGS[*]}" cargo "+$THREADS_TOOLCHAIN" rustc --locked \
  --profile wasm --target wasm32-unknown-unknown --lib --crate-type cdylib \
  --no-default-features --features threads -Zbuild-std=panic_abort,std \
  --target-dir target/wasm-threads

step "generating the JS bindings into pkg/"
rm -rf pkg/inctrl.js pkg/inctrl.d.ts pkg/inctrl_bg.wasm pkg/inctrl_bg.wasm.d.ts pkg/inctrl_threads* pkg/snippets
wasm-bindgen --target web --out-dir pkg --out-name inctrl target/wasm32-unknown-unknown/wasm/inctrl.wasm
wasm-bindgen --target web --out-dir pkg --out-name inctrl_threads \
  target/wasm-threads/wasm32-unknown-unknown/wasm/inctrl.wasm

step "assembling the demo in www/"
rm -rf www/pkg
mkdir -p www/pkg www/models
for file in $(node -e 'console.log(require("./pkg/package.json").files.join(" "))'); do
  cp -r "pkg/$file" www/pkg/
done

if [ "${1:-}" = "--serve" ]; then
  step "serving the demo (Ctrl-C stops it)"
  echo "Open http://127.0.0.1:8080/ and load weights: drop the official checkpoint.pyth, or a"
  echo "bundle made with 'inctrl convert' and placed in www/models/ (then type models/<name>.bpk)."
  exec python3 tools/serve.py www 8080
fi
