"""The meta-batch of tasks, spread over devices.

Every algorithm needs only the mean over tasks of a per-task result (Reptile: the
adapted parameters; MAML: the meta-gradient; both: the losses).  On one device the
tasks go through ``map_over_tasks`` (unrolled, vmap or map, chosen per backend).  With
a mesh of several devices (every local device, or every device of every host under
``jax.distributed``), ``shard_map`` gives each device ``meta_batch / devices`` tasks.

The mean is taken in one canonical order whatever the number of devices: one fixed tree
of additions over the task index (``canonical_sum``), then one division.  Each device
adds its own tasks along that tree and the devices' partial sums are gathered and added
along its top levels (or, when a device's share is not a power of two, every task's
result is gathered).  Float addition is not associative, so a per-device mean followed
by a mean over devices would make the numbers depend on the device count, and GAN
training amplifies such rounding into different samples.
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from metagan_cli.core.loop_layout import map_over_tasks

TASK_AXIS = "tasks"


def task_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh over ``devices`` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (TASK_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding of what every device holds whole: parameters, state, class images."""
    return NamedSharding(mesh, PartitionSpec())


def mean_over_tasks(fn: Callable, batching: str, mesh: Mesh | None = None) -> Callable:
    """``mean(shared, *per_task)``: the mean over the leading (task) axis of
    ``fn(shared, *one_task)``, a pytree; ``shared`` (the initialisation) is the same for
    every task.  With a mesh of more than one device the tasks are sharded over it; the
    result is the same bits on any number of devices (see the module docstring)."""
    def per_task(shared, *tasks):
        return map_over_tasks(lambda *task: fn(shared, *task), batching)(*tasks)

    if mesh is None or mesh.size == 1:
        def mean(shared, *tasks):
            count = jax.tree_util.tree_leaves(tasks)[0].shape[0]
            return jax.tree_util.tree_map(lambda x: canonical_sum(x) / count, per_task(shared, *tasks))
        return mean

    def sharded_mean(shared, *tasks):
        count = jax.tree_util.tree_leaves(tasks)[0].shape[0]
        if count % mesh.size:
            raise ValueError(f"{count} tasks do not split evenly over {mesh.size} devices")
        local = count // mesh.size

        def total(x):
            if _power_of_two(local):    # the device's block is a subtree: send one partial sum
                return canonical_sum(jax.lax.all_gather(canonical_sum(x), TASK_AXIS))
            return canonical_sum(jax.lax.all_gather(x, TASK_AXIS, tiled=True))   # every task, in order

        def body(s, *mine):
            return jax.tree_util.tree_map(lambda x: total(x) / count, per_task(s, *mine))

        specs = (PartitionSpec(),) + (PartitionSpec(TASK_AXIS),) * len(tasks)
        return jax.shard_map(body, mesh=mesh, in_specs=specs, out_specs=PartitionSpec(),
                             check_vma=False)(shared, *tasks)

    return sharded_mean


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def canonical_sum(stacked: jax.Array) -> jax.Array:
    """The sum over axis 0 by one fixed tree of explicit additions (XLA keeps their
    order, where a reduce may pick its own).  The tree splits off the largest power of
    two below the count, so every aligned block of a power-of-two size is one of its
    subtrees: devices holding such blocks can add their own tasks first and only then
    exchange one partial sum each, and the result is still the same bits."""
    def tree(lo: int, hi: int) -> jax.Array:
        size = hi - lo
        if size == 1:
            return stacked[lo]
        half = size // 2 if _power_of_two(size) else 1 << (size.bit_length() - 1)
        return tree(lo, lo + half) + tree(lo + half, hi)
    return tree(0, stacked.shape[0])
