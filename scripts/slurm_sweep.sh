#!/usr/bin/env bash
# A hyperparameter sweep as Slurm jobs, one job per combination, from a login node.
# Hydra's submitit launcher (launcher=slurm, conf/launcher/slurm.yaml) submits the jobs
# and waits for them; each job that reaches its time limit is signalled (SIGUSR1)
# two minutes early, saves a checkpoint at its current meta-step, and is requeued by
# submitit; the requeued job resumes from that checkpoint in the same run dir.
#
# Usage: scripts/slurm_sweep.sh [extra overrides]   e.g. hydra.launcher.partition=gpu
# Run it under tmux/screen (or with nohup): the sweep process must outlive your login.
set -euo pipefail
cd "$(dirname "$0")/.."

# A fixed sweep dir (not a timestamp) so that requeued jobs find their run dirs.
sweep_dir=runs/sweeps/mnist-algo-seed

metagan meta-train -m launcher=slurm \
  task=fewshot_mnist algo=reptile,fomaml seed=0,1,2 \
  hydra.sweep.dir="$sweep_dir" \
  hydra.launcher.timeout_min=240 \
  hydra.launcher.gpus_per_node=1 \
  hydra.launcher.cpus_per_task=8 \
  "$@"
# Each job's run dir is $sweep_dir/<job number>; .submitit/ holds the Slurm logs.
