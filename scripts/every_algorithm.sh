#!/usr/bin/env bash
# Meta-trains every algorithm (reptile, fomaml, maml, and the scratch and pretrain
# baselines) briefly on each task, then adapts each result to a held-out class: a
# check that every path works from the CLI on real data, not a training recipe.
#
# Usage, from the repo root with metagan installed and TFDS MNIST prepared:
#   TFDS_DATA_DIR=path/to/tfds scripts/every_algorithm.sh [OMNIGLOT_SMALL1_DIR] [STEPS] [overrides...]
# The Omniglot folder defaults to ../shared/omniglot_small1 beside the repo; extra
# overrides go to every meta-train (e.g. model.width=16 algo.inner_steps=5 for speed).
set -euo pipefail
cd "$(dirname "$0")/.."
omniglot=${1:-../shared/omniglot_small1}/images_background_small1
steps=${2:-20}
shift $(( $# < 2 ? $# : 2 ))
out=runs/every_algorithm
mkdir -p "$out"

declare -A task_args=(
  [digits]="task=fewshot_digits"
  [mnist]="task=fewshot_mnist"
  [omniglot]="task=folder data.path=$omniglot task.holdout_group=Greek"
)
declare -A held_out=([digits]=8 [mnist]=8 [omniglot]=Greek/character05)

printf '%-9s %-9s %12s %9s\n' task algo meta_train_s adapt_s
for task in digits mnist omniglot; do
  for algo in reptile fomaml maml scratch pretrain; do
    dir="$out/$task-$algo"
    start=$SECONDS
    # shellcheck disable=SC2086
    metagan meta-train ${task_args[$task]} algo=$algo train.steps="$steps" \
      train.log_every=10 "$@" hydra.run.dir="$dir" > "$dir.log" 2>&1 \
      || { echo "meta-train failed: $task $algo (see $dir.log)"; exit 1; }
    middle=$SECONDS
    metagan adapt checkpoint="$dir" class="${held_out[$task]}" hydra.run.dir="$dir-adapt" \
      >> "$dir.log" 2>&1 || { echo "adapt failed: $task $algo (see $dir.log)"; exit 1; }
    end=$SECONDS
    printf '%-9s %-9s %12d %9d\n' "$task" "$algo" $((middle - start)) $((end - middle))
  done
done
