#!/usr/bin/env bash
# `make bench`: every side-by-side benchmark, one after the other (they each
# want both cores; running them together makes every ratio meaningless).
# Results go to bench-out/<name>.txt; each script prints its own table.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=bench-out
mkdir -p "$OUT"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
for bench in bench_store bench_sql bench_extract bench_embed bench_tune bench_sweep bench_score bench_select bench_scale; do
  echo "== $bench" >&2
  "$PY" "benchmarks/$bench.py" 2>&1 | tee "$OUT/$bench.txt"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
