"""The meta-batch of tasks, spread over devices.

Every algorithm needs only the mean over tasks of a per-task result (Reptile: the
adapted parameters; MAML: the meta-gradient; both: the losses).  On one device the
tasks go through ``map_over_tasks`` (unrolled, vmap or map, chosen per backend).  With
a mesh of several devices (every local device, or every device of every host under
``jax.distributed``), ``shard_map`` gives each device ``meta_batch / devices`` tasks;
each averages its own and a ``pmean`` over the mesh averages the device means: the
same mean, up to float rounding.
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
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
    every task.  With a mesh of more than one device the tasks are sharded over it."""
    def local_mean(shared, *per_task):
        one = lambda *task: fn(shared, *task)
        if batching == "map":      # a running sum: no [tasks, ...] stack to reduce afterwards
            return _mean_by_scan(one, per_task)
        results = map_over_tasks(one, batching)(*per_task)
        return jax.tree_util.tree_map(lambda x: jnp.mean(x, axis=0), results)

    if mesh is None or mesh.size == 1:
        return local_mean

    def sharded_mean(shared, *per_task):
        tasks = jax.tree_util.tree_leaves(per_task)[0].shape[0]
        if tasks % mesh.size:
            raise ValueError(f"{tasks} tasks do not split evenly over {mesh.size} devices")
        body = lambda s, *t: jax.lax.pmean(local_mean(s, *t), TASK_AXIS)
        specs = (PartitionSpec(),) + (PartitionSpec(TASK_AXIS),) * len(per_task)
        return jax.shard_map(body, mesh=mesh, in_specs=specs, out_specs=PartitionSpec(),
                             check_vma=False)(shared, *per_task)

    return sharded_mean


def _mean_by_scan(fn: Callable, per_task: tuple):
    """The mean over tasks of ``fn(*one_task)`` by a rolled loop that adds each task's
    result to a running sum (a stack-then-reduce ran slowly on CPU for large leaves)."""
    tasks = jax.tree_util.tree_leaves(per_task)[0].shape[0]
    first = jax.tree_util.tree_map(lambda x: x[0], per_task)
    # jit: the loop body below reuses the trace eval_shape makes (tracing a task's inner
    # loop takes seconds)
    fn = jax.jit(fn)
    zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, *first))

    def add(total, task):
        return jax.tree_util.tree_map(jnp.add, total, fn(*task)), None

    total, _ = jax.lax.scan(add, zeros, per_task)
    return jax.tree_util.tree_map(lambda x: x / tasks, total)
