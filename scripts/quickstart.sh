#!/usr/bin/env bash
# Runs the README's quickstart chain on the embedded default task (meta-train, adapt,
# sample, eval) and refreshes the figures the README shows (docs/images/). Usage, from the repo root with metagan
# installed:  scripts/quickstart.sh [extra meta-train overrides]
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/quickstart

# Reruns resume (or, when already finished, return at once).
metagan meta-train hydra.run.dir="$out" "$@"
metagan adapt checkpoint="$out" class=8 hydra.run.dir="$out-adapt8"
metagan sample checkpoint="$out-adapt8" n=64 hydra.run.dir="$out-sample8"
metagan eval checkpoint="$out" hydra.run.dir="$out-eval"     # report: $out-eval/report.md

mkdir -p docs/images
last=$(ls "$out"/samples/step_*.png | sort | tail -n 1)
cp "$last" docs/images/quickstart_meta_train_samples.png
cp "$out-adapt8/adapt_grid.png" docs/images/quickstart_adapt_class8.png
echo "figures copied to docs/images/; the eval report is $out-eval/report.md"
