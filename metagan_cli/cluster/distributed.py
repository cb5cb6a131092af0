"""Several processes (hosts) under ``jax.distributed``, and results back on the host.

Every process runs the same program on the same data and the same random stream;
the meta-batch of tasks is sharded over the devices of all processes
(``core.task_parallel``).  Only process 0 writes logs, samples and metadata; all
processes take part in saving checkpoints (orbax writes each array once).
"""
from __future__ import annotations

import logging
import os
from typing import Mapping

import jax
import numpy as np

from metagan_cli.config import DistributedConfig
from metagan_cli.cluster.slurm import slurm_tasks
from metagan_cli.errors import UserError

log = logging.getLogger("metagan")


def wanted(cfg: DistributedConfig, environ: Mapping[str, str] = os.environ) -> bool:
    """``auto`` starts jax.distributed under a multi-task Slurm step, or when a
    coordinator is given."""
    if cfg.initialize == "auto":
        return cfg.coordinator is not None or slurm_tasks(environ) > 1
    return bool(cfg.initialize)


def initialize(cfg: DistributedConfig) -> None:
    """Starts jax.distributed when wanted; a no-op otherwise.  Without an explicit
    coordinator JAX detects the cluster (Slurm, Open MPI, ...) from its environment."""
    if not wanted(cfg):
        return
    try:
        jax.distributed.initialize(coordinator_address=cfg.coordinator,
                                   num_processes=cfg.num_processes, process_id=cfg.process_id)
    except (ValueError, RuntimeError) as error:
        raise UserError(f"could not start jax.distributed ({error}); give "
                        f"distributed.coordinator=HOST:PORT distributed.num_processes=N "
                        f"distributed.process_id=I, or distributed.initialize=false") from None
    log.info("jax.distributed: process %d of %d, %d local and %d global devices",
             jax.process_index(), jax.process_count(), jax.local_device_count(), jax.device_count())


def is_main_process() -> bool:
    return jax.process_index() == 0


def local_copy(tree):
    """A single-device copy of each (replicated) array that this process can read."""
    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return x.addressable_data(0)
        return x
    return jax.tree_util.tree_map(one, tree)


def to_host(tree):
    """NumPy values of a pytree of replicated arrays, on any process."""
    return jax.tree_util.tree_map(np.asarray, local_copy(tree))


def any_process(flag: bool) -> bool:
    """True when ``flag`` is true on any process (every process must call this)."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils
    return bool(np.any(multihost_utils.process_allgather(np.asarray(flag, np.int32))))
