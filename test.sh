#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine with a Rust toolchain:
# installs what is missing (Mesa lavapipe for native wgpu), then the Rust tests.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n=== %s\n' "$*"; }
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

if [ ! -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]; then
  step "installing Mesa lavapipe (software Vulkan for the native wgpu tests)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
# wgpu's GL probe complains without a runtime dir; give it an empty private one.
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
export XDG_RUNTIME_DIR

step "cargo fmt --check"
cargo fmt --all -- --check

step "native tests (CPU flex backend, wgpu on lavapipe, CLI)"
cargo test --locked --profile native
