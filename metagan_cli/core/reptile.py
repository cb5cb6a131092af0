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

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.episodes import ClassImages, sample_episodes
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import make_inner_loop, map_over_tasks
from metagan_cli.core.optim import make_optimizer


def reptile_direction(params: dict, adapted: dict) -> dict:
    """``params - mean over tasks of adapted`` (adapted leaves carry a task axis)."""
    return jax.tree_util.tree_map(lambda p, a: p - jnp.mean(a, axis=0), params, adapted)


def make_reptile_step(cfg: MetaLearnConfig, gan: Gan) -> Callable:
    """Returns ``step(state, data, classes) -> (state, metrics)``, ready to jit."""
    inner = make_inner_loop(gan, cfg.algo, cfg.inner_optim, cfg.loop, cfg.algo.inner_steps)
    outer_tx = make_optimizer(cfg.outer_optim)

    def step(state: dict, data: ClassImages, classes: jax.Array):
        key = jax.random.fold_in(state["key"], state["step"])
        episode_key, inner_key = jax.random.split(key)
        _, support, _ = sample_episodes(episode_key, data, classes,
                                        cfg.algo.meta_batch, cfg.shots)
        task_keys = jax.random.split(inner_key, cfg.algo.meta_batch)
        params = state["params"]
        adapt_task = map_over_tasks(lambda s, k: inner(params, s, k), cfg.loop.task_batching)
        adapted, losses = adapt_task(support, task_keys)
        direction = reptile_direction(params, adapted)
        updates, outer_opt = outer_tx.update(direction, state["outer_opt"], params)
        new_state = {"step": state["step"] + 1,
                     "params": optax.apply_updates(params, updates),
                     "outer_opt": outer_opt,
                     "key": state["key"]}
        metrics = {"d_loss": jnp.mean(losses[..., 0]), "g_loss": jnp.mean(losses[..., 1])}
        return new_state, metrics

    return step
