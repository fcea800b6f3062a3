#!/usr/bin/env bash
# `make demo`: the main job end to end on an embedded local Ray, on a small
# synthetic multicentre cohort. Every step is an `alnm-ray` command a user runs.
set -euo pipefail
OUT=${1:-demo-out}
BIN=$(cd "$(dirname "$0")/.." && pwd)/.venv/bin
ALNM="$BIN/alnm-ray"
rm -rf "$OUT"
mkdir -p "$OUT"
step() { printf '\n== %s\n' "$*" >&2; }

step "1/10 synthesise a 2-centre phantom cohort"
"$ALNM" synth "$OUT/cohort" --patients 24 --centers 2 --seed 7 --repeat-readers 8

step "2/10 validate the manifest and clinical table"
"$ALNM" validate "$OUT/cohort/manifest.csv" --clinical "$OUT/cohort/clinical.csv"

step "3/10 extract radiomics into the feature store (paper preset)"
"$ALNM" extract "$OUT/cohort/manifest.csv" --store "$OUT/store" --preset guo2024

step "4/10 deep embeddings (3-D ResNet-18, random weights with a recorded seed)"
"$ALNM" embed "$OUT/cohort/manifest.csv" --store "$OUT/store" --grid 32

step "5/10 SQL over the store"
"$ALNM" sql --store "$OUT/store" "SELECT center, sequence, count(*) AS cases FROM radiomics GROUP BY ALL ORDER BY ALL"
"$ALNM" features list --store "$OUT/store"

step "6/10 repeated CV sweep of every classifier (the paper's eight and SGD; 2 repeats instead of 20, no post-fusion, for time)"
"$ALNM" tune --store "$OUT/store" --preset guo2024 --clinical "$OUT/cohort/clinical.csv" \
  --feature-sets radiomics,deep,combined,clinical --repeats 2 --folds 5 --out "$OUT/run"

step "7/10 HTML report"
"$ALNM" report "$OUT/run" --out "$OUT/report.html"

step "8/10 freeze the combined-feature MLP (signed with a demo key) and score a new cohort from images"
"$ALNM" keys create --out "$OUT/keys" --name demo
"$ALNM" train --store "$OUT/store" --run "$OUT/run" --feature-set combined --classifier mlp --out "$OUT/bundle" \
  --signing-key "$OUT/keys/demo.key"
"$ALNM" synth "$OUT/new" --patients 8 --centers 1 --seed 99 --cohort newsite --repeat-readers 0
"$ALNM" score "$OUT/bundle" --manifest "$OUT/new/manifest.csv" --store "$OUT/store" --out "$OUT/predictions.parquet" \
  --trust "$OUT/keys/demo.pub"

step "9/10 predictions are in the store too"
"$ALNM" sql --store "$OUT/store" "SELECT cohort, count(*) AS n, round(avg(probability), 3) AS mean_p FROM predictions GROUP BY cohort"
step "10/10 a whole published study from its protocol: Liu 2025 (MG; clinical, radiomics, deep; post-fusion)"
"$ALNM" protocol list
"$ALNM" synth "$OUT/liu" --like liu2025 --patients 60 --seed 3
"$ALNM" protocol check liu2025 --manifest "$OUT/liu/manifest.csv" --clinical "$OUT/liu/clinical.csv"
"$ALNM" run liu2025 --manifest "$OUT/liu/manifest.csv" --clinical "$OUT/liu/clinical.csv" --store "$OUT/liu-store" \
  --out "$OUT/liu-run" --quick --signing-key "$OUT/keys/demo.key"

printf '\nDemo finished: report at %s/report.html, Liu 2025 run report at %s/liu-run/report.html\n' "$OUT" "$OUT" >&2
