#!/usr/bin/env bash
# Cluster benchmark (issue 14): chat across 1, 2 and 3 `cordon serve` nodes on one PostgreSQL database and one
# NATS server, the load generator's visitors spread over the nodes and each agent on another node than the
# visitors beside it, so most messages cross nodes through NATS.
#
#   benches/cluster.sh        release build, then for N in 1 2 3: a fresh database, N nodes, a chat sweep;
#                             writes the "Cluster" section of BENCHMARKS.md. About 6 minutes per repeat.
#
# Knobs (environment): REPEAT=3 (figures are medians); QUICK=1 smoke size; NO_REPORT=1; OUT=DIR;
# CORDON_TEST_POSTGRES (default postgres://root@127.0.0.1:5432/test: the server whose databases are made and
# dropped here, one per run, named cordon_bench_*); CORDON_TEST_NATS (default nats://127.0.0.1:4222).
# On this 2-core box every node, PostgreSQL, NATS and the load generator share the same two cores: the table
# shows what a node costs and that delivery across nodes stays in the same latency class, not a speed-up.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPEAT=${REPEAT:-1}
QUICK=${QUICK:-0}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$ROOT/target/bench/cluster-$STAMP}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PG=${CORDON_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}
NATS=${CORDON_TEST_NATS:-nats://127.0.0.1:4222}
BASE_PORT=${BASE_PORT:-19180}
FPS=100000
export CORDON_MASTER_KEY=${CORDON_MASTER_KEY:-5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5}
mkdir -p "$OUT"

if [ "$QUICK" = 1 ]; then
  CONVS=200; TENANTS=4; AGENTS=2; RATES=250,500,1000; STEP=3
else
  CONVS=600; TENANTS=6; AGENTS=4; STEP=8
  RATES=${RATES:-500,1000,2000,3000,4000,5000,6000,8000,10000}
fi

echo "== build (release)"
cargo build --release -p cordon -p cordon-loadgen
LG=$TARGET_DIR/release/cordon-loadgen
CORDON=$TARGET_DIR/release/cordon

PIDS=()
stop_nodes() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
}
trap stop_nodes EXIT

wait_ready() {
  for _ in $(seq 1 300); do
    if curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "node on port $1 did not become ready" >&2
  return 1
}

# A database of its own per run: the URL of PG with the last path segment replaced.
fresh_db() {
  local name=$1 admin_url=$PG
  psql "$admin_url" -qAt -c "DROP DATABASE IF EXISTS $name" >/dev/null
  psql "$admin_url" -qAt -c "CREATE DATABASE $name" >/dev/null
  DB="${PG%/*}/$name"
}

run_cluster() {
  local n=$1 r=$2 name="cluster$1-$2"
  fresh_db "cordon_bench_${n}_$r"
  local targets="" pids=""
  for i in $(seq 1 "$n"); do
    local port=$((BASE_PORT + i)) data="$OUT/data-$name-node$i"
    rm -rf "$data"; mkdir -p "$data"
    RUST_LOG=${CORDON_LOG:-warn} "$CORDON" serve --data "$data" --database "$DB" --broker "$NATS" \
      --node-id "node$i" --listen "127.0.0.1:$port" --max-frames-per-sec $FPS --frame-burst $FPS \
      --max-connections-per-ip 0 --new-connections-per-ip 0 > "$OUT/$name-node$i.log" 2>&1 &
    PIDS+=($!)
    # One node at a time: the first one migrates the new database.
    wait_ready "$port"
    targets="${targets:+$targets,}http://127.0.0.1:$port"
    pids="${pids:+$pids,}${PIDS[-1]}"
  done
  echo "== $name: $n node(s) (load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$LG" chat --server cordon --target "$targets" --server-pid "$pids" --database "$DB" \
    --data "$OUT/data-$name-node1" --cordon-bin "$CORDON" \
    --conversations $CONVS --tenants $TENANTS --agents $AGENTS --capacity 100 \
    --rate "$RATES" --sweep --duration $STEP --drain 5 --message-size 100 \
    --label "$name" --out "$OUT/$name.json" || echo "$name failed"
  stop_nodes
  psql "$PG" -qAt -c "DROP DATABASE IF EXISTS cordon_bench_${n}_$r" >/dev/null || true
  sleep 2
}

for r in $(seq 1 "$REPEAT"); do
  for n in 1 2 3; do
    run_cluster "$n" "$r"
  done
done

if [ "${NO_REPORT:-0}" != 1 ]; then
  "$LG" report --section cluster --results "$OUT" --benchmarks BENCHMARKS.md \
    --command "REPEAT=$REPEAT benches/cluster.sh"
fi
echo "results in $OUT"
