"""The devices a meta-train run uses: set up once, before anything touches a JAX
device, by ``metagan meta-train`` and ``scripts/bench.py`` alike, so the benchmark
times exactly what meta-train runs."""
from __future__ import annotations

import logging

import jax
from jax.sharding import Mesh

from metagan_cli.cluster.distributed import initialize, wanted
from metagan_cli.cluster.host_devices import available_cores, resolve_cpu_devices, split_host_cpu
from metagan_cli.config import DistributedConfig, MetaLearnConfig
from metagan_cli.core.algorithms import algorithm, loop_layout
from metagan_cli.core.task_parallel import task_mesh
from metagan_cli.errors import UserError

log = logging.getLogger("metagan")


def set_up_devices(cfg: MetaLearnConfig, distributed: DistributedConfig) -> None:
    """This host's CPU cores as several XLA devices when the algorithm's tasks can run
    side by side, then jax.distributed when wanted."""
    sharded = distributed.shard_tasks and algorithm(cfg).has_task_axis
    split_host_cpu(resolve_cpu_devices(distributed.cpu_devices, cfg.algo.meta_batch if sharded else 1,
                                       available_cores(), several_processes=wanted(distributed)))
    initialize(distributed)


def meta_batch_mesh(cfg: MetaLearnConfig, shard_tasks: bool = True) -> Mesh | None:
    """A mesh over every device to shard the meta-batch over; None on one device, for
    algorithms without a task axis, or with ``shard_tasks`` off."""
    devices = jax.device_count()
    if not shard_tasks or devices == 1 or not algorithm(cfg).has_task_axis:
        return None
    if cfg.algo.meta_batch % devices:
        cpu = ", distributed.cpu_devices=auto" if jax.default_backend() == "cpu" else ""
        raise UserError(f"algo.meta_batch={cfg.algo.meta_batch} does not split over {devices} "
                        f"devices; use a multiple of {devices}{cpu}, or distributed.shard_tasks=false")
    log.info("sharding %d tasks per meta-step over %d devices", cfg.algo.meta_batch, devices)
    return task_mesh()


def device_layout(cfg: MetaLearnConfig, mesh: Mesh | None) -> dict:
    """How this start of a run spreads its tasks (run.json's ``device_layout``).  The
    parameters are the same bits for any number of devices or processes except with
    ``vmap`` task batching (the accelerators' default), whose per-task arithmetic
    depends on how many tasks are batched together."""
    devices = mesh.size if mesh is not None else 1
    batching = loop_layout(cfg).task_batching
    return {"backend": jax.default_backend(), "processes": jax.process_count(), "devices": devices,
            "tasks_per_device": cfg.algo.meta_batch // devices if algorithm(cfg).has_task_axis else None,
            "task_batching": batching, "same_bits_on_any_device_count": batching != "vmap"}
