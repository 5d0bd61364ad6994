#!/usr/bin/env bash
# Builds the browser package (pkg/) and the demo page (www/).
#   ./build.sh            build
#   ./build.sh --serve    build, then serve the demo on http://127.0.0.1:8080/
# Installs what is missing: the wasm32 target and wasm-bindgen-cli at the exact
# version in Cargo.lock (from crates.io).
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
cargo rustc --locked --profile wasm --target wasm32-unknown-unknown --lib --crate-type cdylib

step "generating the JS bindings into pkg/"
rm -f pkg/inctrl.js pkg/inctrl.d.ts pkg/inctrl_bg.wasm pkg/inctrl_bg.wasm.d.ts
wasm-bindgen --target web --out-dir pkg --out-name inctrl target/wasm32-unknown-unknown/wasm/inctrl.wasm

step "assembling the demo in www/"
rm -rf www/pkg
mkdir -p www/pkg www/models
for file in $(node -e 'console.log(require("./pkg/package.json").files.join(" "))'); do
  cp "pkg/$file" www/pkg/
done

if [ "${1:-}" = "--serve" ]; then
  step "serving the demo (Ctrl-C stops it)"
  echo "Open http://127.0.0.1:8080/ and load weights: drop the official checkpoint.pyth, or a"
  echo "bundle made with 'inctrl convert' and placed in www/models/ (then type models/<name>.bpk)."
  exec python3 tools/serve.py www 8080
fi
