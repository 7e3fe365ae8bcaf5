#!/usr/bin/env bash
# The one benchmark command.
#
#   benches/run.sh            release build, criterion (briefly), then idle / chat / storm / reconnect against the
#                             bare relay and against Cordon back to back, chat against Cordon with card numbers
#                             typed in pieces (issue 7), and chat with and without a slow-client flood from one
#                             address (issue 18, SLOW_N sockets beside SLOW_RATE msg/s); writes the BENCHMARKS.md section and the chart. About 15
#                             minutes on the 2-core box (after the build).
#
# Knobs (environment): REPEAT=3 runs every scenario three times (figures are medians); QUICK=1 is a smoke-size run
# of a minute or two; SKIP_CRITERION=1; NO_REPORT=1 leaves BENCHMARKS.md alone; OUT=DIR keeps the result files
# there (default target/bench/<time>); FRAG_RATE=5000 and FRAG_SHARE=0.02 set the split-card chat run (rate, share
# of visitor turns typing a card in pieces). Everything stays on 127.0.0.0/8 and every process stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPEAT=${REPEAT:-1}
QUICK=${QUICK:-0}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$ROOT/target/bench/$STAMP}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RELAY_PORT=${RELAY_PORT:-19100}
CORDON_PORT=${CORDON_PORT:-19080}
mkdir -p "$OUT"

if [ "$QUICK" = 1 ]; then
  IDLE_N=${IDLE_N:-2000}; IDLE_HOLD=5
  CHAT_CONVS=200; CHAT_TENANTS=4; CHAT_AGENTS=2; CHAT_RATES=500,2000,5000; CHAT_STEP=3
  STORM_RATES=100,300,1000; STORM_STEP=2
  REC_CONVS=50; REC_RATE=200; REC_SECS=5
else
  IDLE_N=${IDLE_N:-19000}; IDLE_HOLD=25
  CHAT_CONVS=1000; CHAT_TENANTS=10; CHAT_AGENTS=5; CHAT_STEP=8
  CHAT_RATES=${CHAT_RATES:-1000,2000,3000,5000,7500,10000,15000,20000,25000,30000,40000,50000,60000}
  STORM_RATES=${STORM_RATES:-100,200,300,500,750,1000,1500,2000,3000,4000,5000,6000,8000}; STORM_STEP=4
  REC_CONVS=200; REC_RATE=1000; REC_SECS=20
fi
# The split-card run: the core's 5,000 msg/s point, with 2 % of visitor turns typing a test card in 2–4 pieces.
# Each visitor then sends every CONVS/FRAG_RATE s (0.2 s, QUICK 0.04 s), well inside Cordon's default 5 s fragment
# window, so every card's pieces are joined.
FRAG_RATE=${FRAG_RATE:-5000}
FRAG_SHARE=${FRAG_SHARE:-0.02}
# The slow-client flood (issue 18): SLOW_N sockets from one address trickling headers, beside chat at SLOW_RATE.
SLOW_RATE=${SLOW_RATE:-2000}
if [ "$QUICK" = 1 ]; then SLOW_N=${SLOW_N:-1000}; SLOW_STEP=12; else SLOW_N=${SLOW_N:-3000}; SLOW_STEP=20; fi
# Per-socket rate limit for the load test: Cordon's default (20 frames/s, burst 40) would refuse the load itself.
FPS=100000

echo "== build (release)"
cargo build --release -p cordon -p cordon-loadgen
LG=$TARGET_DIR/release/cordon-loadgen
CORDON=$TARGET_DIR/release/cordon

CRIT_FACT=()
if [ "${SKIP_CRITERION:-0}" != 1 ]; then
  echo "== criterion (cordon-card, cordon-ledger; short warm-up and measurement)"
  cargo bench -p cordon-card -p cordon-ledger --bench redact --bench ledger -- --warm-up-time 0.5 --measurement-time 1 \
    > "$OUT/criterion.txt" 2>&1 || echo "criterion failed (see $OUT/criterion.txt)"
  grep -E "time:" -B1 "$OUT/criterion.txt" | grep -vE "^--$" | paste - - | sed -E 's/^Benchmarking .*Analyzing\t//; s/ +/ /g' \
    > "$OUT/criterion-summary.txt" || true
  CRIT_FACT=(--fact "Criterion (same run, brief settings; full figures in the sections above): $(awk -F'time:' '{gsub(/^ +| +$/,"",$1); printf "%s%s %s", sep, $1, $2; sep="; "}' "$OUT/criterion-summary.txt" | head -c 1500)")
fi

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
trap stop_server EXIT

wait_up() {
  for _ in $(seq 1 200); do
    if curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not come up" >&2
  return 1
}

start_relay() {
  "$LG" relay --listen "127.0.0.1:$RELAY_PORT" --max-frames-per-sec $FPS --frame-burst $FPS --exit-after 1800 \
    > "$OUT/relay-$1.log" 2>&1 &
  SERVER_PID=$!
  wait_up "$RELAY_PORT"
  TARGET="--server relay --target http://127.0.0.1:$RELAY_PORT --server-pid $SERVER_PID"
}

# start_cordon_with NAME FLAGS...: a fresh Cordon with the load test's frame rate and the given extra flags.
start_cordon_with() {
  DATA="$OUT/data-$1"
  rm -rf "$DATA"
  mkdir -p "$DATA"
  local name=$1; shift
  RUST_LOG=${CORDON_LOG:-warn} "$CORDON" serve --data "$DATA" --listen "127.0.0.1:$CORDON_PORT" \
    --max-frames-per-sec $FPS --frame-burst $FPS "$@" > "$OUT/cordon-$name.log" 2>&1 &
  SERVER_PID=$!
  wait_up "$CORDON_PORT"
  TARGET="--server cordon --target http://127.0.0.1:$CORDON_PORT --server-pid $SERVER_PID --data $DATA --cordon-bin $CORDON"
}

# Capacity runs: the per-address connection limits off (the load comes from a handful of loopback addresses).
start_cordon() { start_cordon_with "$1" --max-connections-per-ip 0 --new-connections-per-ip 0; }
# The slow-client runs: Cordon's default connection limits and header timeout, as deployed.
start_cordon_guarded() { start_cordon_with "$1"; }

# run NAME SERVER ARGS...: one scenario against a fresh server.
run() {
  local name=$1 server=$2; shift 2
  echo "== $name against $server (load $(cut -d' ' -f1-3 /proc/loadavg))"
  "start_$server" "$name"
  # shellcheck disable=SC2086
  "$LG" "$@" $TARGET --label "$name" --out "$OUT/$name-$server.json" || echo "$name against $server failed"
  stop_server
  sleep 2
}

for r in $(seq 1 "$REPEAT"); do
  for server in relay cordon; do
    run "idle-$r" $server idle --connections "$IDLE_N" --hold "$IDLE_HOLD" --concurrency 256
  done
  for server in relay cordon; do
    run "chat-$r" $server chat --conversations $CHAT_CONVS --tenants $CHAT_TENANTS --agents $CHAT_AGENTS \
      --capacity 100 --rate "$CHAT_RATES" --sweep --duration $CHAT_STEP --drain 5 --message-size 100
  done
  run "chatfrag-$r" cordon chat --conversations $CHAT_CONVS --tenants $CHAT_TENANTS --agents $CHAT_AGENTS \
    --capacity 100 --rate "$FRAG_RATE" --duration $CHAT_STEP --drain 5 --message-size 100 \
    --card-fragment-share "$FRAG_SHARE"
  for server in relay cordon; do
    run "storm-$r" $server storm --rates "$STORM_RATES" --step-duration $STORM_STEP --tenants 4
  done
  # A slow-client flood from one address beside ordinary chat, and the same chat without it (issue 18).
  for flood in 0 "$SLOW_N"; do
    run "slow$flood-$r" cordon_guarded chat --conversations $CHAT_CONVS --tenants $CHAT_TENANTS \
      --agents $CHAT_AGENTS --capacity 100 --rate "$SLOW_RATE" --duration $SLOW_STEP --drain 5 --message-size 100 \
      --slow-clients "$flood"
  done
  run "reconnect-$r" cordon reconnect --conversations $REC_CONVS --tenants 4 --agents 2 --capacity 100 \
    --rate $REC_RATE --duration $REC_SECS --drop-share 0.1 --drop-every 1000
done

if [ "${NO_REPORT:-0}" != 1 ]; then
  NOTES=()
  [ -f benches/NOTES.md ] && NOTES=(--notes benches/NOTES.md)
  "$LG" report --results "$OUT" --benchmarks BENCHMARKS.md --chart benches/chat-latency.svg \
    --chart-link benches/chat-latency.svg --command "REPEAT=$REPEAT benches/run.sh" "${NOTES[@]}" "${CRIT_FACT[@]}"
fi
echo "results in $OUT"
