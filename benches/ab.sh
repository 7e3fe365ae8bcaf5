#!/usr/bin/env bash
# Interleaved A/B of two server binaries under the same load generator (issue 13's before/after figures).
#
#   benches/ab.sh BEFORE_BIN AFTER_BIN [LOADGEN_BIN]
#
# Runs, REPEAT times (default 3), alternating before/after: a fresh data dir, `cordon serve` on SQLite, then a chat
# sweep at CHAT_RATES and a storm ramp at STORM_RATES (each against a fresh server). Results (the load generator's
# JSON, with server CPU per message and per session from /proc) go to OUT (default target/bench/ab-<time>), and a
# summary of medians is printed: CPU per message/session, p99, and the highest clean rate of each binary. Alternating
# spreads the noise of a shared machine over both binaries alike. With PG=postgres://…/db every run gets a fresh
# database on that PostgreSQL server instead of SQLite (the same binary may then be given as both sides).
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?before binary}; AFTER=${2:?after binary}; LG=${3:-target/release/cordon-loadgen}
REPEAT=${REPEAT:-3}
CHAT_RATES=${CHAT_RATES:-2000,5000,10000,15000,20000,25000}
STORM_RATES=${STORM_RATES:-500,1000,1500,2000,3000,4000}
OUT=${OUT:-$PWD/target/bench/ab-$(date -u +%Y%m%dT%H%M%SZ)}
PORT=${PORT:-19080}
FPS=100000
mkdir -p "$OUT"
PID=
stop() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"; for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true
  fi
  PID=
}
trap stop EXIT
PG=${PG:-}
# PostgreSQL needs the master key from the environment (there is no data dir key file); a fixed one for benches.
if [ -n "$PG" ]; then
  export CORDON_MASTER_KEY=${CORDON_MASTER_KEY:-5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5}
fi
start() { # start NAME BIN
  local data="$OUT/data-$1"; rm -rf "$data"; mkdir -p "$data"
  local db=()
  if [ -n "$PG" ]; then
    local name
    name="cordon_ab_$(echo "$1" | tr -c 'a-z0-9\n' '_')"
    psql "$PG" -qAt -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null 2>&1
    db=(--database "${PG%/*}/$name")
  fi
  RUST_LOG=warn "$2" serve --data "$data" "${db[@]}" --listen "127.0.0.1:$PORT" --max-frames-per-sec $FPS \
    --frame-burst $FPS --max-connections-per-ip 0 --new-connections-per-ip 0 > "$OUT/$1.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  TARGET=(--server cordon --target "http://127.0.0.1:$PORT" --server-pid "$PID" --data "$data" --cordon-bin "$2"
    "${db[@]}")
}
for r in $(seq 1 "$REPEAT"); do
  for side in before after; do
    bin=$BEFORE; [ "$side" = after ] && bin=$AFTER
    echo "== chat $side $r (load $(cut -d' ' -f1-3 /proc/loadavg))"
    start "chat-$side-$r" "$bin"
    "$LG" chat --conversations 1000 --tenants 10 --agents 5 --capacity 100 --rate "$CHAT_RATES" --sweep \
      --duration 8 --drain 5 --message-size 100 "${TARGET[@]}" --label "chat-$side-$r" \
      --out "$OUT/chat-$side-$r.json" > "$OUT/chat-$side-$r.out" 2>&1 || echo "chat $side $r failed"
    stop; sleep 2
    echo "== storm $side $r (load $(cut -d' ' -f1-3 /proc/loadavg))"
    start "storm-$side-$r" "$bin"
    "$LG" storm --rates "$STORM_RATES" --step-duration 4 --tenants 4 "${TARGET[@]}" --label "storm-$side-$r" \
      --out "$OUT/storm-$side-$r.json" > "$OUT/storm-$side-$r.out" 2>&1 || echo "storm $side $r failed"
    stop; sleep 2
  done
done
python3 benches/ab_summary.py "$OUT"
