"""Reptile on both G and D, as FIGR does it.

Per task, the inner loop adapts a copy of the initialisation to the task's support
images; the outer optax optimiser is then applied to the pseudo-gradient
``initialisation - mean(adapted parameters)`` over the meta-batch.  With outer SGD at
learning rate 1 this moves the initialisation to the mean of the adapted parameters.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.algorithms import ALGORITHMS, Algorithm, MetaStep, draw_tasks, outer_update
from metagan_cli.core.episodes import ClassImages
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import make_inner_loop
from metagan_cli.core.loop_layout import LoopLayout
from metagan_cli.core.optim import make_optimizer
from metagan_cli.core.task_parallel import mean_over_tasks


def make_reptile_step(cfg: MetaLearnConfig, gan: Gan, layout: LoopLayout,
                      mesh: Mesh | None = None) -> MetaStep:
    """``step(state, data, classes) -> (state, metrics)``; with a ``mesh`` of several
    devices the meta-batch of tasks is sharded over it."""
    inner = make_inner_loop(gan, cfg.inner_optim, cfg.algo.inner_steps, layout,
                            n_critic=cfg.algo.n_critic, reuse_fake=cfg.algo.reuse_fake)
    outer_tx = make_optimizer(cfg.outer_optim)
    adapt_tasks = mean_over_tasks(inner, layout.task_batching, mesh)

    def step(state: dict, data: ClassImages, classes: jax.Array):
        tasks = draw_tasks(state, data, classes, cfg.algo.meta_batch, cfg.shots)
        params = state["params"]
        mean_adapted, losses = adapt_tasks(params, tasks.support, tasks.keys)
        direction = jax.tree_util.tree_map(jnp.subtract, params, mean_adapted)   # init - mean adapted
        metrics = {"d_loss": jnp.mean(losses[..., 0]), "g_loss": jnp.mean(losses[..., 1])}
        return outer_update(state, direction, outer_tx), metrics

    return step


ALGORITHMS.register(Algorithm("reptile", make_reptile_step))
