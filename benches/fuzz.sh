#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/) for SECONDS each (default 600), PARALLEL at a time
# (default 2). Not run in CI. Seeds come from shared/conformance (mappings and their inputs)
# and tests/fixtures (stream configs); crashes land in fuzz/artifacts/<target>/.
#
#   bash benches/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config_load bloblang_compile bloblang_differential json_scanner)
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# cargo fuzz passes nightly-only flags (sanitizers, coverage passes); the machine has only the
# stable toolchain, which accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1

seeds=fuzz/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{config_load,bloblang_compile,bloblang_differential,json_scanner}
python3 - "$seeds" <<'PY'
import json, sys, os, glob, hashlib
out = sys.argv[1]
def put(target, text):
    data = text.encode()
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)
for line in open("../shared/conformance/bloblang/cases.jsonl"):
    c = json.loads(line)
    put("bloblang_compile", c["mapping"])
    put("bloblang_differential", c["mapping"] + "\n---\n" + (c.get("input") or ""))
    if c.get("input"):
        put("json_scanner", c["input"])
for path in glob.glob("tests/fixtures/**/*.yaml", recursive=True):
    put("config_load", open(path).read())
PY

run() {
  local t=$1
  mkdir -p "fuzz/corpus/$t"
  cargo fuzz run "$t" "fuzz/corpus/$t" "$seeds/$t" -- \
    -max_total_time="$secs" -timeout=20 -rss_limit_mb=6144 -print_final_stats=1 \
    > "fuzz/$t.log" 2>&1 && echo "$t: no crash in ${secs}s ($(grep -m1 'stat::number_of_executed_units' "fuzz/$t.log" || true))" \
    || { echo "$t: FAILED, see fuzz/$t.log and fuzz/artifacts/$t/"; return 1; }
}
# Build first (one at a time), then run PARALLEL targets at once.
for t in "${targets[@]}"; do cargo fuzz build "$t"; done
status=0
pids=()
for t in "${targets[@]}"; do
  run "$t" & pids+=($!)
  if [ ${#pids[@]} -ge "${PARALLEL:-2}" ]; then wait "${pids[0]}" || status=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
