#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian machine: Debian's Rust 1.63
# with the wasm32 std and lld (to rebuild example algorithms), then the package with
# its Cython extensions (built in place, editable), the Kubernetes extra and the test and lint tools.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if ! dpkg -s libstd-rust-dev-wasm32 lld >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends rustc cargo libstd-rust-dev-wasm32 lld >/dev/null
fi
python3 -m pip install -q --upgrade pip
python3 -m pip install -q -e ".[test,lint,live]"
