"""The GAN inner loop: adapt a (G, D) pair to one task's support images.

One inner step is ``n_critic`` discriminator updates followed by one generator
update, each on the task's K support images and a fresh batch of K generated ones.
The loop over steps is a ``lax.scan`` whose ``unroll`` is a config value: on CPU, ops
inside an XLA while loop run far slower than unrolled ones, while on accelerators a
rolled loop compiles faster at little cost.  Everything is a pure function of
(params, support, key), so it can be jitted, vmapped over tasks and differentiated.
"""
from __future__ import annotations

import operator
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from metagan_cli.config import AlgoConfig, LoopConfig, OptimConfig
from metagan_cli.core.gan import Gan
from metagan_cli.core.losses import discriminator_loss, generator_loss
from metagan_cli.core.optim import make_optimizer

InnerLoop = Callable[[dict, jax.Array, jax.Array], tuple[dict, jax.Array]]


def resolve_unroll(loop: LoopConfig, steps: int, backend: str | None = None) -> int:
    """The scan unroll factor; 'auto' unrolls fully on CPU for short loops (XLA's CPU
    while loop is slow) and keeps a short unroll on accelerators (faster compiles)."""
    backend = backend or jax.default_backend()
    if loop.scan_unroll == "full":
        return max(steps, 1)
    if loop.scan_unroll == "auto":
        if backend == "cpu":
            return max(steps, 1) if steps <= 20 else 10
        return 1
    return min(int(loop.scan_unroll), max(steps, 1))


def make_inner_loop(gan: Gan, algo: AlgoConfig, optim: OptimConfig, loop: LoopConfig,
                    steps: int) -> InnerLoop:
    """Returns ``adapt(params, support, key) -> (adapted params, losses [steps, 2])``;
    losses are the (d_loss, g_loss) of each inner step."""
    tx = make_optimizer(optim)

    def d_update(d_params, d_opt, g_params, support, key):
        z_key, gp_key = jax.random.split(key)
        fake = gan.sample(g_params, z_key, support.shape[0])
        loss, grads = jax.value_and_grad(
            lambda d: discriminator_loss(gan.loss, gan.discriminate, d, support, fake, gp_key)
        )(d_params)
        updates, d_opt = tx.update(grads, d_opt, d_params)
        return optax.apply_updates(d_params, updates), d_opt, loss

    def g_update(g_params, g_opt, d_params, key, n):
        loss, grads = jax.value_and_grad(
            lambda g: generator_loss(gan.loss, gan.discriminate, d_params, gan.sample(g, key, n))
        )(g_params)
        updates, g_opt = tx.update(grads, g_opt, g_params)
        return optax.apply_updates(g_params, updates), g_opt, loss

    def inner_step(carry, key, support):
        g_params, d_params, g_opt, d_opt = carry
        keys = jax.random.split(key, algo.n_critic + 1)
        d_loss = jnp.zeros(())
        for i in range(algo.n_critic):
            d_params, d_opt, d_loss = d_update(d_params, d_opt, g_params, support, keys[i])
        g_params, g_opt, g_loss = g_update(g_params, g_opt, d_params, keys[-1], support.shape[0])
        return (g_params, d_params, g_opt, d_opt), jnp.stack([d_loss, g_loss])

    def adapt(params: dict, support: jax.Array, key: jax.Array):
        if steps == 0:
            return params, jnp.zeros((0, 2))
        carry = (params["g"], params["d"], tx.init(params["g"]), tx.init(params["d"]))
        step = lambda c, k: inner_step(c, k, support)
        if loop.remat:
            step = jax.checkpoint(step)
        carry, losses = jax.lax.scan(step, carry, jax.random.split(key, steps),
                                     unroll=resolve_unroll(loop, steps))
        return {"g": carry[0], "d": carry[1]}, losses

    return adapt


def map_over_tasks(fn: Callable, batching: str, backend: str | None = None) -> Callable:
    """Applies ``fn`` to each task along axis 0 of every argument and stacks the results.

    vmap turns per-task weights into grouped convolutions (good on accelerators, slow
    on CPU); ``unrolled`` traces one copy per task; ``map`` is a rolled lax.map.
    """
    if batching == "auto":
        batching = "unrolled" if (backend or jax.default_backend()) == "cpu" else "vmap"
    if batching == "vmap":
        return jax.vmap(fn)
    if batching == "map":
        return lambda *args: jax.lax.map(lambda a: fn(*a), args)

    def unrolled(*args):
        n = jax.tree_util.tree_leaves(args)[0].shape[0]
        outs = [fn(*jax.tree_util.tree_map(operator.itemgetter(i), args)) for i in range(n)]
        return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *outs)
    return unrolled
