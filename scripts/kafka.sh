#!/usr/bin/env bash
# A local single-node Kafka (KRaft, combined broker+controller) from Maven Central jars.
#   scripts/kafka.sh up|down|status|fetch|reset   env: KAFKA_PORT (9092), KAFKA_DATA (.local/kafka-<port>)
# `up` is idempotent: it resolves jars once, formats storage once, starts the broker unless it
# already answers, waits until it does, and creates the topics with explicit partition counts.
# BROKERS=3 runs a three-node cluster instead (see cluster_main below).
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

# ---------------------------------------------------------------------------------------------
# Cluster mode (BROKERS=3): three KRaft nodes on loopback, each broker and controller in one JVM
# (a static quorum of three voters: any one node may be down), with the production topic settings
# of deploy/k8s/base/kafka (replication factor 3, min.insync.replicas 2).
#   BROKERS=3 scripts/kafka.sh up|down|status|reset|fetch|leaders
#   BROKERS=3 scripts/kafka.sh kill9|stop|start|pause|resume <node 1-3>
# env: KAFKA_PORT (29492: brokers on PORT..PORT+2, controllers on PORT+100..PORT+102),
#      KAFKA_DATA (.local/kafka-cluster-<port>, node-<n> below it), KAFKA_HEAP (384m a node),
#      KAFKA_BROKER_SESSION_TIMEOUT_MS (9000, Kafka's default: how long a dead node keeps its
#      leaderships before the controller fences it).
cluster_main() {
  local action="${1:-}" node="${2:-}"
  BROKERS_N="$BROKERS"
  [ "$BROKERS_N" = 3 ] || { echo "BROKERS must be 1 or 3" >&2; exit 2; }
  C_PORT="${KAFKA_PORT:-29492}"
  C_DATA="${KAFKA_DATA:-$ROOT/.local/kafka-cluster-$C_PORT}"
  C_HEAP="${KAFKA_HEAP:-384m}"
  C_SESSION_MS="${KAFKA_BROKER_SESSION_TIMEOUT_MS:-9000}"
  case "$action" in
    up) cluster_up ;;
    down) cluster_down ;;
    status) cluster_status ;;
    reset) cluster_reset ;;
    fetch) fetch ;;
    leaders) cluster_leaders ;;
    kill9|stop|start|pause|resume)
      case "$node" in 1|2|3) ;; *) echo "usage: $0 $action <node 1-3>" >&2; exit 2 ;; esac
      "node_$action" "$node" ;;
    *) echo "usage: BROKERS=3 $0 up|down|status|reset|fetch|leaders|kill9 <n>|stop <n>|start <n>|pause <n>|resume <n>" >&2
       exit 2 ;;
  esac
}

nodes() { seq 1 "$BROKERS_N"; }
node_port() { echo $((C_PORT + $1 - 1)); }
node_controller_port() { echo $((C_PORT + 100 + $1 - 1)); }
node_dir() { echo "$C_DATA/node-$1"; }
node_pid() { cat "$(node_dir "$1")/broker.pid" 2>/dev/null; }
node_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$(node_port "$1")") 2>/dev/null; }
node_running() { local pid; pid="$(node_pid "$1")" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
clog() { printf '[kafka-cluster:%s] %s\n' "$C_PORT" "$*" >&2; }

node_configure() {
  local n="$1" dir voters="" bootstrap="" i
  dir="$(node_dir "$n")"
  mkdir -p "$dir/logs" "$dir/data"
  for i in $(nodes); do
    voters+="${voters:+,}$i@127.0.0.1:$(node_controller_port "$i")"
    bootstrap+="${bootstrap:+,}127.0.0.1:$(node_controller_port "$i")"
  done
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(node_port "$n"),CONTROLLER://127.0.0.1:$(node_controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(node_port "$n"),CONTROLLER://127.0.0.1:$(node_controller_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=$PARTITIONS
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
unclean.leader.election.enable=false
broker.session.timeout.ms=$C_SESSION_MS
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
background.threads=2
log.retention.hours=168
log.segment.bytes=67108864
PROPS
  if [ ! -f "$dir/data/meta.properties" ]; then
    if [ ! -f "$C_DATA/cluster.id" ]; then
      mkdir -p "$C_DATA"
      java -Xms64m -Xmx256m -cp "$LIBS/*" -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.properties" \
        -Dkafka.logs.dir="$dir/logs" kafka.tools.StorageTool random-uuid > "$C_DATA/cluster.id"
    fi
    clog "formatting KRaft storage of node $n in $dir"
    java -Xms64m -Xmx256m -cp "$LIBS/*" -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.properties" \
      -Dkafka.logs.dir="$dir/logs" kafka.tools.StorageTool format --ignore-formatted \
      -t "$(cat "$C_DATA/cluster.id")" -c "$dir/server.properties" >/dev/null
  fi
}

node_launch() {
  local n="$1" dir
  dir="$(node_dir "$n")"
  if node_running "$n"; then return; fi
  node_configure "$n"
  clog "starting node $n on 127.0.0.1:$(node_port "$n") (logs: $dir/logs/server.log)"
  # Small heaps, the serial collector and the C1 compiler only: three JVMs on a 2-core machine.
  nohup java -Xms"$C_HEAP" -Xmx"$C_HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -XX:CICompilerCount=1 -Djava.awt.headless=true \
    -Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" >>"$dir/logs/stdout.log" 2>&1 &
  echo $! > "$dir/broker.pid"
}

node_wait() {
  local n="$1"
  for _ in $(seq 1 240); do
    if node_answers "$n"; then return; fi
    if ! node_running "$n"; then
      clog "node $n exited; see $(node_dir "$n")/logs/"; tail -20 "$(node_dir "$n")/logs/stdout.log" >&2; exit 1
    fi
    sleep 0.5
  done
  clog "node $n did not answer within 120 s"; exit 1
}

node_start() { fetch; node_launch "$1"; node_wait "$1"; }

node_stop() {
  local n="$1" pid
  if node_running "$n"; then
    pid="$(node_pid "$n")"
    clog "stopping node $n ($pid)"
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$(node_dir "$n")/broker.pid"
}

# All at once: stopped one by one, the last nodes lose their quorum and hang in shutdown.
cluster_down() {
  local n pid pids=()
  for n in $(nodes); do
    if node_running "$n"; then
      pid="$(node_pid "$n")"; pids+=("$pid")
      clog "stopping node $n ($pid)"
      kill -CONT "$pid" 2>/dev/null || true
      kill "$pid" 2>/dev/null || true
    fi
  done
  for _ in $(seq 1 60); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for n in $(nodes); do rm -f "$(node_dir "$n")/broker.pid"; done
}

node_kill9() {
  if node_running "$1"; then
    clog "kill -9 node $1"; kill -9 "$(node_pid "$1")"
    for _ in $(seq 1 40); do node_running "$1" || break; sleep 0.25; done
  fi
  rm -f "$(node_dir "$1")/broker.pid"
}

node_pause() { node_running "$1" && { clog "SIGSTOP node $1"; kill -STOP "$(node_pid "$1")"; }; }
node_resume() { node_running "$1" && { clog "SIGCONT node $1"; kill -CONT "$(node_pid "$1")"; }; }

cluster_bootstrap() {
  local out="" i
  for i in $(nodes); do out+="${out:+,}127.0.0.1:$(node_port "$i")"; done
  echo "$out"
}

cluster_up() {
  fetch
  local n
  for n in $(nodes); do node_launch "$n"; done
  for n in $(nodes); do node_wait "$n"; done
  for _ in $(seq 1 90); do
    if cluster_create_topics; then clog "up: $(cluster_bootstrap)"; return; fi
    sleep 1
  done
  clog "could not create topics"; exit 1
}

cluster_create_topics() {
  "$ROOT/.venv/bin/python" - "$(cluster_bootstrap)" "$PARTITIONS" "$C_PORT" <<'PY'
import asyncio, sys
from feedloop.common.kafka import ensure_topics
from feedloop.common.settings import ServiceSettings
bootstrap, partitions, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
settings = ServiceSettings(kafka_bootstrap_servers=bootstrap)
created = asyncio.run(ensure_topics(settings, partitions=partitions, replication=3))
print(f"[kafka-cluster:{port}] topics created (replicas 3, min.insync 2): "
      f"{', '.join(created) or 'none (all present)'}", file=sys.stderr)
PY
}

cluster_status() {
  local n down=0 state
  for n in $(nodes); do
    if node_answers "$n"; then state=up
    elif node_running "$n"; then state="running, not answering"; down=1
    else state=down; down=1; fi
    clog "node $n 127.0.0.1:$(node_port "$n") (controller $(node_controller_port "$n")): $state"
  done
  return "$down"
}

# Leader and ISR of every partition, as the cluster's metadata has them (for operators).
cluster_leaders() {
  "$ROOT/.venv/bin/python" - "$(cluster_bootstrap)" <<'PY'
import asyncio, sys
from aiokafka import AIOKafkaConsumer
async def main() -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=sys.argv[1])
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        for topic in sorted(cluster.topics()):
            for p in sorted(cluster.partitions_for_topic(topic) or ()):
                meta = cluster._partitions[topic][p]
                print(f"{topic}[{p}] leader {meta.leader} isr {sorted(meta.isr)}")
    finally:
        await consumer.stop()
asyncio.run(main())
PY
}

cluster_reset() {
  local n
  for n in $(nodes); do node_stop "$n"; done
  case "$C_DATA" in
    ""|/|"$HOME"|"$ROOT") clog "refusing to wipe KAFKA_DATA=$C_DATA"; exit 1 ;;
  esac
  if [ -e "$C_DATA" ] && [ ! -d "$C_DATA/node-1" ]; then
    clog "refusing to wipe $C_DATA: it holds no cluster of this script"; exit 1
  fi
  clog "wiping $C_DATA and formatting it afresh"
  rm -rf "$C_DATA"
  cluster_up
}

BROKERS="${BROKERS:-1}"
if [ "$BROKERS" != 1 ]; then cluster_main "$@"; exit; fi

case "${1:-}" in
  up) up ;;
  reset) reset ;;
  down) down ;;
  status) if answers; then log "up"; else log "down"; exit 1; fi ;;
  fetch) fetch ;;
  kill9) if running; then kill -9 "$(cat "$PIDFILE")"; rm -f "$PIDFILE"; fi ;;
  *) echo "usage: $0 up|down|status|fetch|kill9|reset" >&2; exit 2 ;;
esac
