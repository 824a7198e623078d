#!/usr/bin/env bash
# The `jq` processor (queries run in sluice's jq worker processes) against jq 1.6 and against
# the same projection as a Bloblang `mapping`, on 200,000 NDJSON documents like the
# walkthrough's, in one run: `sluice run` reads them on stdin and writes the results to
# stdout. Prints lines per second and the ratios. LINES=N changes the document count,
# SLUICE=path uses another sluice binary (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${LINES:-200000}
command -v jq >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; }
SLUICE=${SLUICE:-./target/release/sluice}
[ -n "${SLUICE_SKIP_BUILD:-}" ] || cargo build --release --quiet --bin sluice

TMP=$(mktemp -d)
DATA=$TMP/docs.ndjson
python3 benches/walkthrough_docs.py "$N" > "$DATA"
FILTER='{id: .user.id, content: .body.content}'
MAPPING='root = {"id": this.user.id, "content": this.body.content}'
stream() {
  printf 'input:\n  stdin: {}\npipeline:\n  threads: 1\n  processors:\n    - %s\noutput:\n  stdout: {}\n' "$1" > "$2"
}
stream "jq: {query: '$FILTER'}" "$TMP/jq.yaml"
stream "mapping: '$MAPPING'" "$TMP/mapping.yaml"

RUNS=${RUNS:-3}
sync
cat "$DATA" > /dev/null
# shellcheck source=benches/rate.sh
source benches/rate.sh
echo "$N documents ($(du -h "$DATA" | cut -f1)) on $(nproc) cores, one pipeline thread"
proc=$(rate "$SLUICE" run --http-address 127.0.0.1:0 "$TMP/jq.yaml")
map=$(rate "$SLUICE" run --http-address 127.0.0.1:0 "$TMP/mapping.yaml")
jq=$(rate jq -c "$FILTER")
printf "%-28s %10s lines/s\n" "sluice jq processor" "$proc" "sluice mapping processor" "$map" "jq 1.6" "$jq"
awk -v p="$proc" -v m="$map" -v q="$jq" \
  'BEGIN { printf "jq processor / jq 1.6 %.2f   jq processor / mapping %.2f\n", p / q, p / m }'
rm -rf "$TMP"
