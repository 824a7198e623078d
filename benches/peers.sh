#!/usr/bin/env bash
# Compares `sluice blobl` with jq, jaq and a parse-and-serialise floor on 1,000,000 NDJSON
# documents like the walkthrough's, in one run; prints lines per second and the ratios.
# Installs jq (Debian) and jaq (cargo) when missing. LINES=N changes the document count.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${LINES:-1000000}
command -v jq >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; }
command -v jaq >/dev/null 2>&1 || cargo install jaq --locked --quiet
cargo build --release --quiet --bin sluice --example json_floor

DATA=$(mktemp -d)/docs.ndjson
python3 benches/walkthrough_docs.py "$N" > "$DATA"
MAPPING='root = {"id": this.user.id, "content": this.body.content}'
FILTER='{id: .user.id, content: .body.content}'

# Lines per second of a command reading the data on stdin: the best of $RUNS runs. The data
# is flushed to disk first (else the kernel's write-back of the fresh file competes with the
# first tool timed) and read once, so that every tool starts from the page cache.
RUNS=${RUNS:-3}
sync
cat "$DATA" > /dev/null
# shellcheck source=benches/rate.sh
source benches/rate.sh
echo "$N documents ($(du -h "$DATA" | cut -f1)) on $(nproc) cores"
sluice1=$(rate ./target/release/sluice blobl --threads 1 "$MAPPING")
sluiceN=$(rate ./target/release/sluice blobl --threads 0 "$MAPPING")
jq=$(rate jq -c "$FILTER")
jaq=$(rate jaq -c "$FILTER")
floor=$(rate ./target/release/examples/json_floor)
printf "%-22s %12s lines/s\n" "sluice (1 thread)" "$sluice1" "sluice ($(nproc) threads)" "$sluiceN" \
  "jq (1 thread)" "$jq" "jaq (1 thread)" "$jaq" "floor (1 thread)" "$floor"
for s in "1 thread:$sluice1" "$(nproc) threads:$sluiceN"; do
  awk -v name="${s%%:*}" -v s="${s##*:}" -v q="$jq" -v a="$jaq" -v f="$floor" \
    'BEGIN { printf "sluice %-10s sluice/jq %.2f   sluice/jaq %.2f   sluice/floor %.2f\n", name, s / q, s / a, s / f }'
done
rm -f "$DATA"
