#!/usr/bin/env bash
# Runs every check CI runs: services, formatting, lints, all tests, then the
# demo unattended.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== build binaries the tests launch"
cargo build --workspace --bins --examples --quiet
echo "== build the example components (componentize-py)"
scripts/build-components.sh
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --quiet --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole workspace (cargo prints one per test binary,
# the last often a doc-test binary with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
[ "$status" = 0 ] || exit "$status"
echo "== scripts/demo.sh --unattended"
scripts/demo.sh --unattended >"$log" 2>&1 || { cat "$log"; echo "demo: FAILED"; exit 1; }
grep -E "first 200|every step" "$log"
