#!/usr/bin/env bash
# Runs every check CI runs: services, formatting, lints, then all tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== build binaries the tests launch"
cargo build --workspace --bins --examples --quiet
echo "== cargo test"
cargo test --workspace --quiet "$@"
