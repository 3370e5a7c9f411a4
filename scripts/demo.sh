#!/usr/bin/env bash
# The suite's main job, end to end: start the services, launch a provider as a
# host would (host data on stdin), link an actor to it, call it over the
# signed lattice RPC, and print the answers.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh
cargo build --quiet -p provider-sdk --example echo -p lattice --bin lattice
exec target/debug/lattice demo "$@"
