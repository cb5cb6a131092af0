"""MAML for GANs: second-order (``algo=maml``) and first-order (``algo=fomaml``).

Per task, the initialisation is adapted on the support images by the shared inner
loop; the adapted pair is then scored on the task's query images.  A GAN has two
players, so there are two outer losses: the discriminator's initialisation follows
the gradient of the discriminator's query loss, the generator's initialisation that
of the generator's query loss, each a total derivative through the whole inner loop
(both players' updates) for ``maml``, or taken at the adapted parameters for
``fomaml`` (the inner updates' Jacobian replaced by the identity; DAWSON's query
critic, below, is then a constant judge, as in DAWSON itself).

Outer objectives (``algo.outer_objective``):
  ``gan``     D: its GAN loss on query images against the adapted G's samples;
              G: its GAN loss judged by the adapted D.
  ``dawson``  D as above; G: its loss judged by a second discriminator, the adapted D
              trained further on the query images for ``inner_steps x n_critic``
              updates (DAWSON: a GAN has no likelihood to score held-out data with,
              so a critic that has seen the held-out images judges the generator).

``algo.outer_mmd > 0`` adds to G's outer loss that weight times the MMD between the
adapted G's samples and the query images (``losses.mmd_squared``): a score of the
adapted samples against unseen images of the task's class, which no discriminator has
to learn first; ``maml`` differentiates it through the inner loop.
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.algorithms import ALGORITHMS, Algorithm, MetaStep, draw_tasks, outer_update
from metagan_cli.core.episodes import ClassImages
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import make_discriminator_loop, make_inner_loop
from metagan_cli.core.loop_layout import LoopLayout
from metagan_cli.core.losses import discriminator_loss, generator_loss, mmd_squared
from metagan_cli.core.optim import make_optimizer
from metagan_cli.core.partial_adaptation import Freezing
from metagan_cli.core.task_parallel import mean_over_tasks


OUTER_OBJECTIVES = ("gan", "dawson")


def make_outer_losses(cfg: MetaLearnConfig, gan: Gan, layout: LoopLayout,
                      stop_gradients: bool = False) -> Callable:
    """``losses(adapted, query, key, scale, support) -> [d_query_loss, g_query_loss]``
    (a conditioned generator is given the task's ``support``, the query images stay
    unseen by it); ``stop_gradients`` makes DAWSON's critic updates constants (first order)."""
    critic_steps = cfg.algo.inner_steps * cfg.algo.n_critic
    adapt_critic = make_discriminator_loop(gan, cfg.inner_optim, critic_steps, layout,
                                           stop_gradients)

    def losses(adapted: dict, query: jax.Array, key: jax.Array, d_scale=None, support=None) -> jax.Array:
        d_key, gp_key, g_key, critic_key = jax.random.split(key, 4)
        n = query.shape[0]
        fake = gan.sample(adapted["g"], d_key, n, support)
        seen = _AugmentKeys(gan, key)     # D's inputs augmented as in the inner loop (if on)
        d_loss = discriminator_loss(gan.loss, gan.critic(support), adapted["d"], seen(query),
                                    seen(fake), gp_key)
        judge = adapted["d"]
        if cfg.algo.outer_objective == "dawson":
            scale = cfg.inner_optim.lr if d_scale is None else d_scale
            judge = adapt_critic(adapted["d"], adapted["g"], query, critic_key, scale, support)
        g_fake = fake if cfg.algo.reuse_fake else gan.sample(adapted["g"], g_key, n, support)
        g_loss = generator_loss(gan.loss, gan.critic(support), judge, seen(g_fake))
        if cfg.algo.outer_mmd:
            g_loss = g_loss + cfg.algo.outer_mmd * mmd_squared(g_fake, query)
        return jnp.stack([d_loss, g_loss])

    return losses


class _AugmentKeys:
    """Each call augments a batch with a key of its own, folded from the losses' key
    (the losses' other draws stay as they are without augmentation)."""

    def __init__(self, gan: Gan, key: jax.Array):
        self.gan, self.key, self.calls = gan, key, 0

    def __call__(self, x: jax.Array) -> jax.Array:
        if not self.gan.augment.on:
            return x
        self.calls += 1
        return self.gan.for_discriminator(x, jax.random.fold_in(self.key, 1000 + self.calls))


def _own_player(grad_of_d_loss: dict, grad_of_g_loss: dict) -> dict:
    """Each player's parameters (and their learned inner rates) take the gradient of
    their own loss: "d" leaves from the D loss, "g" leaves from the G loss."""
    out = {"g": grad_of_g_loss["g"], "d": grad_of_d_loss["d"]}
    if "inner_lr" in grad_of_d_loss:
        out["inner_lr"] = {"g": grad_of_g_loss["inner_lr"]["g"],
                           "d": grad_of_d_loss["inner_lr"]["d"]}
    return out


def make_task_meta_gradient(cfg: MetaLearnConfig, gan: Gan, layout: LoopLayout, first_order: bool,
                            stop_inner_gradients: bool = False) -> Callable:
    """``meta_grad(params, support, query, key) -> (gradient like params, query losses [2],
    inner losses [steps, 2])`` for one task."""
    inner = make_inner_loop(gan, cfg.inner_optim, cfg.algo.inner_steps, layout,
                            n_critic=cfg.algo.n_critic, reuse_fake=cfg.algo.reuse_fake,
                            stop_gradients=stop_inner_gradients, freezing=Freezing.of(cfg.algo))
    outer = make_outer_losses(cfg, gan, layout, stop_gradients=first_order or stop_inner_gradients)

    def meta_grad(params, support, query, key):
        adapt_key, outer_key = jax.random.split(key)
        d_scale = params["inner_lr"]["d"] if "inner_lr" in params else None

        def adapt(p):
            return inner(p, support, adapt_key)

        if first_order:
            adapted, inner_losses = adapt(params)
            adapted = jax.lax.stop_gradient(adapted)

            def own_loss(player: str, which: int):
                # one backward pass per player, through only what its own loss and
                # parameters touch (not G's backward for the D loss, nor D's weight
                # gradients for the G loss)
                return lambda x: outer({**adapted, player: x}, query, outer_key, d_scale, support)[which]
            d_loss, by_d = jax.value_and_grad(own_loss("d", 0))(adapted["d"])
            g_loss, by_g = jax.value_and_grad(own_loss("g", 1))(adapted["g"])
            return {"g": by_g, "d": by_d}, jnp.stack([d_loss, g_loss]), inner_losses

        def task_losses(p):
            adapted, inner_losses = adapt(p)
            scale = p["inner_lr"]["d"] if "inner_lr" in p else None
            return outer(adapted, query, outer_key, scale, support), inner_losses

        query_losses, pull, inner_losses = jax.vjp(task_losses, params, has_aux=True)
        by_d = pull(jnp.array([1.0, 0.0], query_losses.dtype))[0]
        by_g = pull(jnp.array([0.0, 1.0], query_losses.dtype))[0]
        return _own_player(by_d, by_g), query_losses, inner_losses

    return meta_grad


def make_maml_step(cfg: MetaLearnConfig, gan: Gan, layout: LoopLayout, mesh: Mesh | None = None,
                   *, first_order: bool) -> MetaStep:
    """``step(state, data, classes) -> (state, metrics)``; with a ``mesh`` of several
    devices the meta-batch of tasks is sharded over it."""
    task_grad = make_task_meta_gradient(cfg, gan, layout, first_order)
    outer_tx = make_optimizer(cfg.outer_optim)
    mean_task_grad = mean_over_tasks(task_grad, layout.task_batching, mesh)

    def step(state: dict, data: ClassImages, classes: jax.Array):
        tasks = draw_tasks(state, data, classes, cfg.algo.meta_batch, cfg.shots, cfg.algo.queries)
        grad, query_losses, inner_losses = mean_task_grad(state["params"], tasks.support, tasks.query,
                                                          tasks.keys)
        if not inner_losses.size:        # no inner steps: the query losses are all there is
            inner_losses = query_losses
        metrics = {"d_loss": jnp.mean(inner_losses[..., 0]),
                   "g_loss": jnp.mean(inner_losses[..., 1]),
                   "query_d_loss": query_losses[0],
                   "query_g_loss": query_losses[1]}
        return outer_update(state, grad, outer_tx), metrics

    return step


ALGORITHMS.register(Algorithm("maml", functools.partial(make_maml_step, first_order=False),
                              needs_queries=True, second_order=True))
ALGORITHMS.register(Algorithm("fomaml", functools.partial(make_maml_step, first_order=True),
                              needs_queries=True))
