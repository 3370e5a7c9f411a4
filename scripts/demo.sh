#!/usr/bin/env bash
# The whole story in one command: a WebAssembly component (the Python notes
# app in integration/components/examples/notes) served over HTTP by
# httpserver, storing in Redis through keyvalue-redis, reading a secret from
# OpenBao through secrets-vault, announcing each note on NATS through
# messaging-nats; then keyvalue-redis replaced under load, and the component
# moved to NATS key-value by one relink, with nothing restarted.
#
#   scripts/demo.sh               tell the story, pause between steps (on a
#                                 terminal), and leave the lattice running
#   scripts/demo.sh --unattended  the same, checking every answer; stops
#                                 everything at the end; exit 0 or non-zero
#
# Environment: DEMO_DIR (default $target/demo, where $target is
# CARGO_TARGET_DIR or ./target), DEMO_PREFIX (lattice prefix),
# DEMO_HTTP_PORT (default 8080, or a free port when taken).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")

unattended=0
for arg in "$@"; do
    case $arg in
    --unattended) unattended=1 ;;
    -h | --help)
        sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "demo: unknown argument $arg (try --help)" >&2
        exit 2
        ;;
    esac
done

bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'
[ -t 1 ] || bold='' dim='' off=''
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
note() { printf '%s%s%s\n' "$dim" "$*" "$off"; }
failed=0
check() { # check WHAT EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then
        note "   ok: $1"
    else
        printf '   FAILED: %s: expected %q, got %q\n' "$1" "$2" "$3"
        failed=1
        if [ $unattended = 1 ]; then exit 1; fi
    fi
}
pause() {
    if [ $unattended = 0 ] && [ -t 0 ]; then
        read -r -p "${dim}   (Enter to go on)${off}" _
    fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_free() { ! (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
run() { # show a command, then run it
    printf '%s$ %s%s\n' "$bold" "$*" "$off"
    "$@"
}

say "services: NATS, Redis, RabbitMQ, the OpenBao CLI"
scripts/services.sh

say "build: the providers, the component host, the lattice CLI, the notes component"
cargo build --workspace --bins --examples --quiet   # the same set as scripts/test.sh, so no rebuild after it
scripts/build-components.sh
export PATH="$target/debug:$PATH"
t0=$(date +%s.%N)

dir=${DEMO_DIR:-$target/demo}
if [ $unattended = 1 ]; then
    prefix=${DEMO_PREFIX:-demo-$$}
else
    prefix=${DEMO_PREFIX:-demo}
fi
mkdir -p "$dir"
export LATTICE_KEYS=$dir/keys.toml LATTICE_STATE_DIR=$dir/state LATTICE_PREFIX=$prefix
http_port=${DEMO_HTTP_PORT:-8080}
port_free "$http_port" || http_port=$(free_port)
vault_port=$(free_port)
url=http://127.0.0.1:$http_port
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
}

say "keys and a secret store"
[ -f "$LATTICE_KEYS" ] || lattice keys init
vault_token=demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
bao server -dev -dev-root-token-id="$vault_token" -dev-listen-address="127.0.0.1:$vault_port" \
    >"$dir/openbao.log" 2>&1 &
vault_pid=$!
pids+=("$vault_pid")
trap 'cleanup' EXIT
export BAO_ADDR=http://127.0.0.1:$vault_port BAO_TOKEN=$vault_token
for _ in $(seq 1 100); do bao status >/dev/null 2>&1 && break; sleep 0.1; done
bao kv put -mount=secret notes/api token=the-demo-token >/dev/null
note "OpenBao dev server on 127.0.0.1:$vault_port (pid $vault_pid), secret notes/api#token stored"

cat >"$dir/lattice.toml" <<EOF
# Written by scripts/demo.sh: five providers and one WebAssembly component.
[lattice]
prefix = "$prefix"

[[provider]]
name = "kv"
binary = "keyvalue-redis"
config = { url = "redis://127.0.0.1:6379" }

[[provider]]
name = "kv-nats"
binary = "keyvalue-nats"

[[provider]]
name = "msg"
binary = "messaging-nats"

[[provider]]
name = "http"
binary = "httpserver"

[[provider]]
name = "secrets"
binary = "secrets-vault"

[[component]]
name = "notes"
wasm = "$target/components/notes.wasm"
config = { bucket = "$prefix", events_subject = "$prefix.saved", secret_key = "notes/api#token" }

[[link]]
component = "notes"
provider = "http"
values = { address = "127.0.0.1:$http_port" }

[[link]]
component = "notes"
provider = "kv"

[[link]]
component = "notes"
provider = "msg"
values = { uri = "nats://127.0.0.1:4222", subscription = "$prefix.commands" }

[[link]]
component = "notes"
provider = "secrets"
values = { addr = "http://127.0.0.1:$vault_port", allowed_paths = "notes/api" }
secrets = { token = { env = "DEMO_VAULT_TOKEN" } }
EOF

say "lattice up $dir/lattice.toml"
note "every provider and the component host start, become healthy, get their links"
DEMO_VAULT_TOKEN=$vault_token lattice up "$dir/lattice.toml" >"$dir/up.log" 2>&1 &
up_pid=$!
pids=("$up_pid" "${pids[@]}")
for _ in $(seq 1 3000); do
    grep -q '^ready' "$dir/up.log" && break
    kill -0 "$up_pid" 2>/dev/null || {
        cat "$dir/up.log"
        echo "demo: lattice up stopped" >&2
        exit 1
    }
    sleep 0.1
done
grep -q '^ready' "$dir/up.log" || { cat "$dir/up.log"; echo "demo: lattice up not ready in 300 s" >&2; exit 1; }
sed 's/^/   /' "$dir/up.log"
# The component host picks up its links from the lattice's state a moment
# after they are applied: ask until it answers (at most 10 s).
status=000
for _ in $(seq 1 200); do
    status=$(curl -s -o /dev/null -w '%{http_code}' "$url/version" || true)
    [ "$status" = 200 ] && break
    sleep 0.05
done
t1=$(date +%s.%N)
check "first request" 200 "$status"
note "first 200 $(python3 -c "print(f'{$t1 - $t0:.1f}')") s after the build (lattice up, compile or cache, health, links)"
pause

say "the component at work: curl → httpserver → notes (wasm) → keyvalue-redis → Redis"
run curl -s -X PUT --data 'buy milk' "$url/notes/todo"
check "PUT stores in Redis" "buy milk" "$(redis-cli GET "kvb:$prefix:note:todo")"
run curl -s "$url/notes/todo"; echo
run curl -s -X POST "$url/count"
run curl -s -X POST "$url/count"
run curl -s "$url/secret"
check "the secret, read through secrets-vault" \
    "secret sha256 $(printf the-demo-token | sha256sum | cut -c1-16)" "$(curl -s "$url/secret")"
run curl -s -o /dev/null -w 'GET /trap: %{http_code} (the component trapped; the host goes on)\n' "$url/trap"
check "the next request after a trap" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/notes/todo")"
note "each saved note was announced on NATS subject $prefix.saved (messaging-nats);"
note "a message NAME=TEXT on $prefix.commands saves a note through the component's handler export"
pause

say "replace keyvalue-redis with a new instance while a curl loop runs"
loop_log=$dir/loop.log
rm -f "$dir/stop-loop" "$loop_log"
(
    ok=0 bad=0 end=$((SECONDS + 60))
    for _ in $(seq 1 100000); do
        [ -f "$dir/stop-loop" ] || [ $SECONDS -ge $end ] && break
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/notes/todo" || true)" = 200 ]; then
            ok=$((ok + 1))
        else bad=$((bad + 1)); fi
    done
    echo "$ok $bad" >"$loop_log"
) &
loop_pid=$!
pids+=("$loop_pid")
sleep 1
run lattice replace kv --drain-ms 2000
sleep 1
touch "$dir/stop-loop"
wait "$loop_pid" || true
read -r ok bad <"$loop_log"
rm -f "$dir/stop-loop"
note "curl loop during the replace: $ok answered 200, $bad failed"
check "failed requests during the replace" 0 "$bad"
check "the loop ran during the replace" yes "$([ "$ok" -ge 10 ] && echo yes || echo "no ($ok requests)")"
pause

say "move the component from Redis to NATS key-value: one link, nothing restarted"
before=$(lattice ps --json | python3 -c 'import json,sys; print(sorted((r["provider"], r["pid"]) for r in map(json.loads, sys.stdin)))')
run lattice link put kv-nats notes url=nats://127.0.0.1:4222 "bucket_prefix=${prefix//-/_}_"
for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/notes/todo")" = 404 ] && break
    sleep 0.05
done
note "the note saved in Redis is not in NATS, so the component no longer finds it:"
run curl -s "$url/notes/todo"
run curl -s -X PUT --data 'now in NATS' "$url/notes/todo"
run curl -s "$url/notes/todo"; echo
check "served from NATS" "now in NATS" "$(curl -s "$url/notes/todo")"
check "Redis still has the old value" "buy milk" "$(redis-cli GET "kvb:$prefix:note:todo")"
after=$(lattice ps --json | python3 -c 'import json,sys; print(sorted((r["provider"], r["pid"]) for r in map(json.loads, sys.stdin)))')
check "no process restarted for the relink" "$before" "$after"
pause

say "what is running"
run lattice ps
run lattice link ls

if [ $unattended = 1 ]; then
    say "stopping (unattended run)"
    cleanup
    trap - EXIT
    redis-cli --scan --pattern "kvb:$prefix:*" | xargs -r redis-cli DEL >/dev/null
    [ $failed = 0 ] && echo "demo: every step answered as expected" || echo "demo: some steps failed"
    exit $failed
fi
trap - EXIT
say "it keeps running"
cat <<EOF
   lattice up is pid $up_pid (log: $dir/up.log); OpenBao is pid $vault_pid.
   Try:   curl -X PUT --data hello $url/notes/hello
          curl $url/notes
          lattice logs notes
   Stop:  kill -TERM $up_pid $vault_pid     (lattice up drains and stops everything it runs)
   Environment for lattice commands:
          export LATTICE_KEYS=$LATTICE_KEYS LATTICE_STATE_DIR=$LATTICE_STATE_DIR LATTICE_PREFIX=$prefix PATH=$target/debug:\$PATH
EOF
