#!/usr/bin/env bash
# Long runs that do not belong in the test command: every bench in both
# signing modes, then each provider's resident memory after a long HS256
# load at 64 in flight, and (with --mutants) the claims verifier's mutation
# testing. Bounded: SOAK_SECS per provider (default 150), 4 s per bench row.
#
#   scripts/soak.sh                 # benches + 150 s memory soak per provider
#   SOAK_SECS=600 scripts/soak.sh   # longer soak
#   scripts/soak.sh --mutants       # also cargo mutants on interfaces/rpc/src/claims
#
# Output: one JSON object per line in target/soak/<bench>.jsonl, and a
# summary on stdout. Needs the services of scripts/services.sh (NATS, Redis,
# RabbitMQ; `bao` for the secrets bench).
set -euo pipefail
cd "$(dirname "$0")/.."

SOAK_SECS=${SOAK_SECS:-150}
MUTANTS=0
[[ "${1:-}" == "--mutants" ]] && MUTANTS=1

scripts/services.sh
cargo build --release --workspace --bins
scripts/build-components.sh
mkdir -p target/soak

for bench in keyvalue messaging messaging-rabbitmq httpserver secrets components; do
  echo "== bench-$bench (rows, then a ${SOAK_SECS} s HS256 soak at 64 in flight)"
  timeout $((SOAK_SECS * 3 + 600)) target/release/bench-$bench \
    --seconds 4 --requests 200000 --json --soak-secs "$SOAK_SECS" \
    > "target/soak/$bench.jsonl"
  python3 - "target/soak/$bench.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if not line.startswith('{'):
        continue
    r = json.loads(line)
    if r.get('op') == 'soak':
        print(f"  soak: {r['calls']} calls in {r['seconds']} s ({r['provider_ops']:.0f}/s), "
              f"provider RSS {r['rss_before_mib']:.1f} -> {r['rss_after_mib']:.1f} MiB, errors {r.get('errors', 0)}")
    else:
        print(f"  {r['op']:<10} {r['in_flight']:>3} {r['auth']:<8} ratio {r['ratio']:.2f}  "
              f"provider {r['provider_cpu_us_per_call']:.1f} us/call  errors {r['errors']}")
PY
done

if [[ $MUTANTS == 1 ]]; then
  command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
  cargo mutants --file 'interfaces/rpc/src/claims/*.rs' -p lattice-rpc --timeout 120 -o target/soak
  echo "mutants: $(wc -l < target/soak/mutants.out/missed.txt) missed (see target/soak/mutants.out/missed.txt)"
fi
