#!/usr/bin/env bash
# What the per-message memory accounting costs: `sluice blobl` throughput with the counting
# global allocator (the default build) against a build without it (`--no-default-features`),
# on a varied set of mappings over 300,000 NDJSON documents, both back ends, in one run.
# Prints lines per second and the ratio counted/uncounted (1.00 = free). LINES=N, RUNS=N.
# BASELINE=/path/to/an/older/sluice adds its rate and the ratio counted/baseline (e.g. a build
# from before the limits existed, to see what the checks themselves cost).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${LINES:-300000}
RUNS=${RUNS:-3}
cargo build --release --quiet --bin sluice
cp target/release/sluice /tmp/sluice-counted
cargo build --release --quiet --bin sluice --no-default-features
cp target/release/sluice /tmp/sluice-uncounted
cargo build --release --quiet --bin sluice

DATA=$(mktemp -d)/docs.ndjson
python3 - "$N" > "$DATA" <<'PY'
import json, sys
n = int(sys.argv[1])
kinds = ["a", "b", "c"]
for i in range(n):
    sys.stdout.write(json.dumps({"user": {"id": "user-%d" % i, "name": "Ada %d" % i}, "body": {"content": "hello world %d, a message of moderate length" % i, "lang": "en"}, "n": i % 23, "kind": kinds[i % 3], "tags": ["x", "y", "z%d" % (i % 7)], "ts": "2024-01-01T10:00:00Z"}, separators=(",", ":")) + "\n")
PY
sync; cat "$DATA" > /dev/null

# shellcheck source=benches/rate.sh
source benches/rate.sh

mappings=(
  'root = {"id": this.user.id, "content": this.body.content}'
  'root = this
root.kind = this.kind.uppercase()'
  'root.a = this.user.id
root.len = this.body.content.length()
root.big = this.n > 10
root.cls = match this.kind { "a" => 1, "b" => 2, _ => 3 }'
  'root.tags = this.tags.map_each(t -> t.uppercase()).join(",")
root.sum = range(0, this.n).fold(0, x -> x.tally + x.value)'
  'root = this.body.content.split(" ").map_each(w -> w.length()).sum()'
)
printf "%-8s %-50s %10s %10s %6s %10s %6s\n" backend mapping counted uncounted ratio baseline ratio
for backend in jit interpreter; do
  for m in "${mappings[@]}"; do
    c=$(SLUICE_BACKEND=$backend rate /tmp/sluice-counted blobl --threads 1 "$m")
    u=$(SLUICE_BACKEND=$backend rate /tmp/sluice-uncounted blobl --threads 1 "$m")
    b=-
    [ -n "${BASELINE:-}" ] && b=$(SLUICE_BACKEND=$backend rate "$BASELINE" blobl --threads 1 "$m")
    printf "%-8s %-50s %10s %10s %6s %10s %6s\n" "$backend" "$(echo "$m" | tr '\n' ';' | cut -c1-50)" "$c" "$u" \
      "$(awk -v c="$c" -v u="$u" 'BEGIN { printf "%.2f", c / u }')" "$b" \
      "$(awk -v c="$c" -v b="$b" 'BEGIN { if (b == "-") print "-"; else printf "%.2f", c / b }')"
  done
done
rm -f "$DATA"
