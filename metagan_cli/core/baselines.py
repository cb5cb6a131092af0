"""The baselines a sceptic asks for, as algorithms with the same state and adapt path.

``scratch``   no meta-training: the checkpoint is the random initialisation every other
              algorithm starts from, and adapt trains it on the K shots alone.
``pretrain``  one GAN trained on the images of all meta-train classes pooled (no task
              structure), later fine-tuned by adapt like any initialisation.  Each
              meta-step is ``inner_steps`` GAN steps on batches of ``meta_batch x shots``
              pooled images with the outer optimiser, so a meta-step costs about what a
              meta-learner's does.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.episodes import ClassImages, sample_pooled
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import GanUpdates, scan_steps
from metagan_cli.core.optim import make_optimizer


def init_pretrain_optimizer(cfg: MetaLearnConfig, params: dict) -> dict:
    """G and D step separately, so each keeps its own optimiser state."""
    tx = make_optimizer(cfg.outer_optim)
    return {"g": tx.init(params["g"]), "d": tx.init(params["d"])}


def make_pretrain_step(cfg: MetaLearnConfig, gan: Gan) -> Callable:
    updates = GanUpdates(gan, make_optimizer(cfg.outer_optim), reuse_fake=cfg.algo.reuse_fake)
    batch = cfg.algo.meta_batch * cfg.shots

    def step(state: dict, data: ClassImages, classes: jax.Array):
        key = jax.random.fold_in(state["key"], state["step"])

        def gan_step(carry, k):
            batch_key, step_key = jax.random.split(k)
            real = sample_pooled(batch_key, data, classes, batch)
            return updates.gan_step(carry, real, step_key, cfg.algo.n_critic)

        params, opt = state["params"], state["outer_opt"]
        carry = (params["g"], params["d"], opt["g"], opt["d"])
        steps = max(cfg.algo.inner_steps, 1)
        carry, losses = scan_steps(gan_step, carry, jax.random.split(key, steps), cfg.loop)
        new_state = {**state, "step": state["step"] + 1,
                     "params": {"g": carry[0], "d": carry[1]},
                     "outer_opt": {"g": carry[2], "d": carry[3]}}
        return new_state, {"d_loss": jnp.mean(losses[:, 0]), "g_loss": jnp.mean(losses[:, 1])}

    return step
