"""What Slurm tells a job step through its environment, read without importing JAX
(the command layer needs it before Hydra and JAX start)."""
from __future__ import annotations

import os
from typing import Mapping, Sequence


def slurm_tasks(environ: Mapping[str, str] = os.environ) -> int:
    """How many tasks Slurm launched for this job step (1 outside Slurm)."""
    if "SLURM_JOB_ID" not in environ:
        return 1
    return int(environ.get("SLURM_STEP_NUM_TASKS", environ.get("SLURM_NTASKS", "1")) or 1)


def process_index_hint(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> int:
    """This process's index, read before JAX starts (from ``distributed.process_id=`` or
    Slurm), so that the command layer can keep processes > 0 from writing files."""
    for arg in argv:
        if arg.startswith("distributed.process_id="):
            value = arg.split("=", 1)[1]
            return int(value) if value.isdigit() else 0
    if slurm_tasks(environ) > 1:
        return int(environ.get("SLURM_PROCID", "0") or 0)
    return 0
