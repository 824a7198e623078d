"""Writes N NDJSON documents like the walkthrough's to stdout (the benchmark scripts' corpus)."""
import json
import sys

n = int(sys.argv[1])
kinds = ["a", "b", "c"]
out = sys.stdout
for i in range(n):
    out.write(json.dumps({"user": {"id": "user-%d" % i, "name": "Ada %d" % i}, "body": {"content": "hello world %d, a message of moderate length" % i, "lang": "en"}, "n": i % 23, "kind": kinds[i % 3], "tags": ["x", "y"], "ts": "2024-01-01T10:00:00Z"}, separators=(",", ":")) + "\n")
