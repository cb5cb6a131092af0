"""How an inner loop and a meta-batch of tasks are laid out for XLA: speed and memory
only, the same maths.

``loop.*`` settings may be ``auto``; ``resolve_layout`` turns them into a ``LoopLayout``
of concrete choices once per program, for its model, number of inner steps, order of
differentiation and backend.  The inner loop, the task batching and the benchmark
read that one resolved layout.

Why these choices (docs/BENCHMARKS.md has the measurements):
- On CPU, XLA's convolutions run several times slower inside a while loop (a rolled
  ``lax.scan``, ``lax.map``) than unrolled, while matmuls run equally fast in both.
  Models whose convolutions are matmuls (``model.conv``) therefore keep loops rolled
  (seconds of compilation); others unroll short loops.  Accelerators keep loops rolled.
- Per-task weights under ``vmap`` become grouped convolutions: right on accelerators,
  slow on CPU, where tasks are mapped (matmul models) or unrolled (others).
- Differentiating through a long inner loop (second-order MAML) keeps every step's
  intermediates: ``remat`` trades compute for memory there.
"""
from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp

from metagan_cli.config import LoopConfig, ModelConfig

TASK_BATCHINGS = ("vmap", "map", "unrolled")
REMAT_MODES = ("none", "step", "nested")
ROLLED_UNROLL = 1          # auto on CPU for matmul models: a rolled loop
NESTED_REMAT_ABOVE = 20    # remat=auto: second-order loops longer than this use remat=nested


@dataclass(frozen=True)
class LoopLayout:
    """Concrete choices: ``unroll`` (scan unroll factor, >= 1), ``task_batching``
    (vmap | map | unrolled) and ``remat`` (none | step | nested)."""
    unroll: int = 1
    task_batching: str = "vmap"
    remat: str = "none"

    def as_dict(self, backend: str | None = None) -> dict:
        """For logs and benchmark records (the names of the loop.* keys)."""
        return {"backend": backend or jax.default_backend(), "scan_unroll": self.unroll,
                "task_batching": self.task_batching, "remat": self.remat}


def fast_in_loops(model: ModelConfig, backend: str | None = None) -> bool:
    """Whether the model's ops run about as fast inside an XLA while loop as outside
    one (its convolutions are matmuls)."""
    from metagan_cli.core.models import conv_impl
    return conv_impl(model, backend) == "matmul"


def resolve_unroll(setting, steps: int, backend: str, fast: bool) -> int:
    """loop.scan_unroll: an int, ``full``, or ``auto`` (on CPU: rolled for matmul models,
    fully unrolled for short loops of others and 10 for long ones; 1 on accelerators)."""
    steps = max(steps, 1)
    if setting == "full":
        return steps
    if setting == "auto":
        if backend != "cpu":
            return 1
        if fast:
            return min(ROLLED_UNROLL, steps)
        return steps if steps <= 20 else 10
    return min(int(setting), steps)


def resolve_task_batching(setting: str, backend: str, fast: bool) -> str:
    """loop.task_batching: as given, or ``auto``: vmap on accelerators; on CPU map for
    matmul models (one task's program compiled once, one task's memory at a time) and
    unrolled for others."""
    if setting != "auto":
        return setting
    if backend != "cpu":
        return "vmap"
    return "map" if fast else "unrolled"


def resolve_remat(setting, steps: int, second_order: bool) -> str:
    """loop.remat: false/true (= step)/none/step/nested, or ``auto``: nothing to
    rematerialise unless the program differentiates through the loop; then ``nested``
    for loops longer than NESTED_REMAT_ABOVE steps (about 2 sqrt(steps) carries instead
    of every step's intermediates), none for short ones (faster)."""
    if setting is True:
        return "step"
    if setting is False:
        return "none"
    if setting == "auto":
        return "nested" if second_order and steps > NESTED_REMAT_ABOVE else "none"
    return str(setting)


def resolve_layout(loop: LoopConfig, model: ModelConfig, steps: int, second_order: bool = False,
                   backend: str | None = None) -> LoopLayout:
    """The layout of a program whose inner loops run ``steps`` steps; ``second_order``:
    it differentiates through them."""
    backend = backend or jax.default_backend()
    fast = fast_in_loops(model, backend)
    return LoopLayout(unroll=resolve_unroll(loop.scan_unroll, steps, backend, fast),
                      task_batching=resolve_task_batching(loop.task_batching, backend, fast),
                      remat=resolve_remat(loop.remat, steps, second_order))


def with_unroll(layout: LoopLayout, unroll: int) -> LoopLayout:
    return dataclasses.replace(layout, unroll=unroll)


def map_over_tasks(fn: Callable, batching: str) -> Callable:
    """Applies ``fn`` to each task along axis 0 of every argument and stacks the results:
    ``vmap``; ``unrolled`` (one traced copy per task); ``map`` (a rolled lax.map)."""
    if batching == "vmap":
        return jax.vmap(fn)
    if batching == "map":
        return lambda *args: jax.lax.map(lambda a: fn(*a), args)
    if batching != "unrolled":
        raise ValueError(f"unresolved task batching {batching!r}")

    def unrolled(*args):
        n = jax.tree_util.tree_leaves(args)[0].shape[0]
        outs = [fn(*jax.tree_util.tree_map(operator.itemgetter(i), args)) for i in range(n)]
        return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *outs)
    return unrolled
