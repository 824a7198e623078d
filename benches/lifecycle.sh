#!/usr/bin/env bash
# Builds the release binary and runs the lifecycle benchmark (PUT latency under load, cost of
# 10,000 idle streams). STREAMS=N changes the stream count.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin sluice --example lifecycle_bench
./target/release/examples/lifecycle_bench
