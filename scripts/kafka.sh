#!/usr/bin/env bash
# A local single-node Kafka (KRaft, combined broker+controller) from Maven Central jars.
#   scripts/kafka.sh up|down|status|fetch|reset   env: KAFKA_PORT (9092), KAFKA_DATA (.local/kafka-<port>)
# `up` is idempotent: it resolves jars once, formats storage once, starts the broker unless it
# already answers, waits until it does, and creates the topics with explicit partition counts.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
DATA="${KAFKA_DATA:-$ROOT/.local/kafka-$PORT}"
LIBS="$ROOT/.local/kafka/libs"
PARTITIONS="${KAFKA_PARTITIONS:-6}"
HEAP="${KAFKA_HEAP:-1g}"
PIDFILE="$DATA/broker.pid"

log() { printf '[kafka:%s] %s\n' "$PORT" "$*" >&2; }

fetch() {
  if [ -f "$LIBS/.complete" ]; then return; fi
  log "resolving Kafka jars from Maven Central (once)"
  mkdir -p "$LIBS"
  mvn -q -B -f "$ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS"
  touch "$LIBS/.complete"
}

java_cp() { java -Xms64m -Xmx256m -cp "$LIBS/*" -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.properties" -Dkafka.logs.dir="$DATA/logs" "$@"; }

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

configure() {
  mkdir -p "$DATA/logs" "$DATA/data"
  cat > "$DATA/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA/data
num.partitions=$PARTITIONS
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
log.segment.bytes=268435456
PROPS
  if [ ! -f "$DATA/data/meta.properties" ]; then
    log "formatting KRaft storage in $DATA"
    local uuid
    uuid="$(java_cp kafka.tools.StorageTool random-uuid)"
    java_cp kafka.tools.StorageTool format --standalone --ignore-formatted \
      -t "$uuid" -c "$DATA/server.properties" >/dev/null
  fi
}

create_topics() {
  local python="$ROOT/.venv/bin/python"
  "$python" - "$PORT" "$PARTITIONS" <<'PY'
import asyncio, sys
from feedloop.common.kafka import ensure_topics
from feedloop.common.settings import ServiceSettings
port, partitions = sys.argv[1], int(sys.argv[2])
settings = ServiceSettings(kafka_bootstrap_servers=f"127.0.0.1:{port}")
created = asyncio.run(ensure_topics(settings, partitions=partitions))
print(f"[kafka:{port}] topics created: {', '.join(created) or 'none (all present)'}", file=sys.stderr)
PY
}

up() {
  fetch
  if answers; then
    log "already answering on 127.0.0.1:$PORT"
  else
    configure
    log "starting broker (logs: $DATA/logs/server.log)"
    nohup java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -Dkafka.logs.dir="$DATA/logs" -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.properties" \
      -cp "$LIBS/*" kafka.Kafka "$DATA/server.properties" >"$DATA/logs/stdout.log" 2>&1 &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 120); do
      if answers; then break; fi
      if ! running; then log "broker exited; see $DATA/logs/"; tail -20 "$DATA/logs/stdout.log" >&2; exit 1; fi
      sleep 0.5
    done
    answers || { log "broker did not answer within 60 s"; exit 1; }
  fi
  for _ in $(seq 1 60); do
    if create_topics; then return; fi
    sleep 1
  done
  log "could not create topics"; exit 1
}

down() {
  if running; then
    local pid; pid="$(cat "$PIDFILE")"
    log "stopping broker $pid"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

# For a broker whose metadata log no longer loads (e.g. after many kill -9): every record, offset
# and group of this broker is lost; the topics come back empty.
reset() {
  down
  if answers; then log "something else answers on 127.0.0.1:$PORT (not $PIDFILE's broker): stop it first"; exit 1; fi
  case "$DATA" in
    ""|/|"$HOME"|"$ROOT") log "refusing to wipe KAFKA_DATA=$DATA"; exit 1 ;;
  esac
  if [ -e "$DATA" ] && [ ! -f "$DATA/server.properties" ] && [ ! -d "$DATA/data" ]; then
    log "refusing to wipe $DATA: it holds no broker of this script"; exit 1
  fi
  log "wiping $DATA and formatting it afresh"
  rm -rf "$DATA"
  up
}

case "${1:-}" in
  up) up ;;
  reset) reset ;;
  down) down ;;
  status) if answers; then log "up"; else log "down"; exit 1; fi ;;
  fetch) fetch ;;
  kill9) if running; then kill -9 "$(cat "$PIDFILE")"; rm -f "$PIDFILE"; fi ;;
  *) echo "usage: $0 up|down|status|fetch|kill9|reset" >&2; exit 2 ;;
esac
