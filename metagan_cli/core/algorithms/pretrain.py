"""``pretrain``: one GAN trained on the images of all meta-train classes pooled (no task
structure), later fine-tuned by adapt like any initialisation: the transfer-learning
baseline a sceptic asks for.  Each meta-step is ``inner_steps`` GAN steps on batches of
``meta_batch x shots`` pooled images with the outer optimiser, so a meta-step costs
about what a meta-learner's does.  One GAN, no task axis: on a mesh it runs replicated.
A support-conditioned generator (model=conditioned) gets one class per batch instead,
and is conditioned on it, so that it learns to follow its shots: a conditional GAN
trained across classes without meta-learning.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.algorithms import ALGORITHMS, Algorithm, MetaStep, step_key
from metagan_cli.core.episodes import ClassImages, sample_one_class, sample_pooled
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import GanUpdates, scan_steps
from metagan_cli.core.loop_layout import LoopLayout
from metagan_cli.core.optim import make_optimizer


def init_pretrain_optimizer(cfg: MetaLearnConfig, params: dict) -> dict:
    """G and D step separately, so each keeps its own optimiser state."""
    tx = make_optimizer(cfg.outer_optim)
    return {"g": tx.init(params["g"]), "d": tx.init(params["d"])}


def make_pretrain_step(cfg: MetaLearnConfig, gan: Gan, layout: LoopLayout,
                       mesh: Mesh | None = None) -> MetaStep:
    updates = GanUpdates(gan, make_optimizer(cfg.outer_optim), reuse_fake=cfg.algo.reuse_fake)
    batch = cfg.algo.meta_batch * cfg.shots
    # mixed-class batches would teach a conditioned G to ignore its shots
    draw = sample_one_class if gan.conditioned else sample_pooled

    def step(state: dict, data: ClassImages, classes: jax.Array):
        def gan_step(carry, k):
            batch_key, gan_key = jax.random.split(k)
            real = draw(batch_key, data, classes, batch)
            return updates.gan_step(carry, real, gan_key, cfg.algo.n_critic)

        params, opt = state["params"], state["outer_opt"]
        carry = (params["g"], params["d"], opt["g"], opt["d"])
        steps = max(cfg.algo.inner_steps, 1)
        carry, losses = scan_steps(gan_step, carry, jax.random.split(step_key(state), steps), layout)
        new_state = {**state, "step": state["step"] + 1,
                     "params": {"g": carry[0], "d": carry[1]},
                     "outer_opt": {"g": carry[2], "d": carry[3]}}
        return new_state, {"d_loss": jnp.mean(losses[:, 0]), "g_loss": jnp.mean(losses[:, 1])}

    return step


PRETRAIN = ALGORITHMS.register(Algorithm("pretrain", make_pretrain_step, has_task_axis=False,
                                         init_outer_state=init_pretrain_optimizer))
