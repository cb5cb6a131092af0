"""Reptile on both G and D, as FIGR does it.

Per task, the inner loop adapts a copy of the initialisation to the task's support
images; the outer optax optimiser is then applied to the pseudo-gradient
``initialisation - mean(adapted parameters)`` over the meta-batch.  With outer SGD at
learning rate 1 this moves the initialisation to the mean of the adapted parameters.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from jax.sharding import Mesh

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.episodes import ClassImages, sample_episodes
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import make_inner_loop
from metagan_cli.core.task_parallel import mean_over_tasks
from metagan_cli.core.optim import make_optimizer


def make_reptile_step(cfg: MetaLearnConfig, gan: Gan, mesh: Mesh | None = None) -> Callable:
    """Returns ``step(state, data, classes) -> (state, metrics)``, ready to jit; with a
    ``mesh`` of several devices the meta-batch of tasks is sharded over it."""
    inner = make_inner_loop(gan, cfg.algo, cfg.inner_optim, cfg.loop, cfg.algo.inner_steps)
    outer_tx = make_optimizer(cfg.outer_optim)
    adapt_tasks = mean_over_tasks(inner, cfg.loop.task_batching, mesh)

    def step(state: dict, data: ClassImages, classes: jax.Array):
        key = jax.random.fold_in(state["key"], state["step"])
        episode_key, inner_key = jax.random.split(key)
        _, support, _ = sample_episodes(episode_key, data, classes,
                                        cfg.algo.meta_batch, cfg.shots)
        task_keys = jax.random.split(inner_key, cfg.algo.meta_batch)
        params = state["params"]
        mean_adapted, losses = adapt_tasks(params, support, task_keys)
        direction = jax.tree_util.tree_map(jnp.subtract, params, mean_adapted)   # init - mean adapted
        updates, outer_opt = outer_tx.update(direction, state["outer_opt"], params)
        new_state = {"step": state["step"] + 1,
                     "params": optax.apply_updates(params, updates),
                     "outer_opt": outer_opt,
                     "key": state["key"]}
        metrics = {"d_loss": jnp.mean(losses[..., 0]), "g_loss": jnp.mean(losses[..., 1])}
        return new_state, metrics

    return step
