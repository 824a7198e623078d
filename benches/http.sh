#!/usr/bin/env bash
# Load benchmark of the HTTP hot path: wrk drives `http_server → mapping → drop` in sluice and,
# in the same run, a bare hyper server answering 200; prints both request rates and the ratio.
# Loopback only; each run is bounded (DURATION seconds per target). With BASELINE=<sluice
# binary> (e.g. a release build of an older commit), that binary runs the same stream in the
# same run and the ratio of the two is printed too.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
cargo build --release --quiet --bin sluice --example bare_http

PS=14195; PB=14196; PO=14197
./target/release/sluice streams --http-address 127.0.0.1:$PS --log.level error >/dev/null 2>&1 & S=$!
./target/release/examples/bare_http 127.0.0.1:$PB & B=$!
O=""
if [ -n "${BASELINE:-}" ]; then
  "$BASELINE" streams --http-address 127.0.0.1:$PO --log.level error >/dev/null 2>&1 & O=$!
fi
trap 'kill $S $B $O 2>/dev/null || true' EXIT
start_stream() {
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/ping" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$1/streams/bench" -X POST --data-binary @- <<'YAML'
input:
  http_server: {}
pipeline:
  threads: -1
  processors:
    - mapping: 'root = {"id": this.user.id, "content": this.body.content}'
output:
  drop: {}
YAML
}
start_stream $PS
[ -n "$O" ] && start_stream $PO

LUA=$(mktemp --suffix .lua)
cat > "$LUA" <<'LUA'
wrk.method = "POST"
wrk.body = '{"user":{"id":"foo"},"body":{"content":"bar"}}'
LUA
rate() { wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$LUA" "$1" | awk '/Requests\/sec/ {print $2}'; }
sluice_rps=$(rate http://127.0.0.1:$PS/bench/post)
bare_rps=$(rate http://127.0.0.1:$PB/)
echo "sluice http_server → mapping → drop: ${sluice_rps} req/s"
echo "bare hyper server:                   ${bare_rps} req/s"
awk -v a="$sluice_rps" -v b="$bare_rps" 'BEGIN { printf "ratio sluice/bare: %.2f\n", a / b }'
if [ -n "$O" ]; then
  base_rps=$(rate http://127.0.0.1:$PO/bench/post)
  echo "baseline ($BASELINE):  ${base_rps} req/s"
  awk -v a="$sluice_rps" -v b="$base_rps" 'BEGIN { printf "ratio sluice/baseline: %.2f\n", a / b }'
fi
