"""The GAN inner loop: adapt a (G, D) pair to one task's support images.

One inner step is ``n_critic`` discriminator updates followed by one generator
update, each on the task's K support images and a fresh batch of K generated ones
(``algo.reuse_fake``: the generator update reuses the last discriminator update's).
The loop over steps is a ``lax.scan`` laid out (unroll, rematerialisation) by a
``LoopLayout`` resolved once per program (``core.loop_layout``).  Everything is a pure function of
(params, support, key), so it can be jitted, vmapped over tasks and differentiated
(second-order MAML differentiates straight through it).

When ``params`` carries ``"inner_lr"`` (Meta-SGD: a learning rate per parameter,
meta-learned), each update of the inner optimiser is scaled elementwise by it.
"""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from metagan_cli.config import MetaLearnConfig, OptimConfig
from metagan_cli.core.gan import Gan
from metagan_cli.core.loop_layout import LoopLayout, resolve_layout
from metagan_cli.core.losses import discriminator_loss, generator_loss, mode_seeking
from metagan_cli.core.optim import make_inner_optimizer
from metagan_cli.core.partial_adaptation import Freezing

InnerLoop = Callable[[dict, jax.Array, jax.Array], tuple[dict, jax.Array]]


class GanUpdates:
    """One discriminator update and one generator update with optimiser ``tx``.

    ``scale`` (optional: a number, or a per-parameter pytree for Meta-SGD) multiplies the
    optimiser's updates; inner loops pass their learning rate this way to a unit-rate
    optimiser, which gives bitwise the same updates as optax's own learning rate.
    ``stop_gradients`` makes every update a constant for differentiation, so the
    adapted parameters depend on the initial ones only through the identity: MAML
    through such a loop is exactly first-order MAML.  ``reuse_fake`` gives the G update
    the latents, hence the generated batch, of the last D update (as the PyTorch
    reference and DCGAN's example do) instead of fresh ones: the generator's forward
    pass then runs once per inner step, and its pullback gives G's gradient.
    """

    def __init__(self, gan: Gan, tx: optax.GradientTransformation, stop_gradients: bool = False,
                 reuse_fake: bool = False, freezing: Freezing = Freezing()):
        self.gan, self.tx, self.stop, self.reuse_fake = gan, tx, stop_gradients, reuse_fake
        self.freezing = freezing

    def _apply(self, player, params, grads, opt, scale):
        updates, opt = self.tx.update(grads, opt, params)
        if isinstance(scale, (int, float)):
            updates = jax.tree_util.tree_map(lambda u: u * scale, updates)
        elif scale is not None:
            updates = jax.tree_util.tree_map(jnp.multiply, updates, scale)
        if self.stop:
            updates = jax.lax.stop_gradient(updates)
        return self.freezing.keep(player, optax.apply_updates(params, updates), params), opt

    def discriminator(self, d_params, d_opt, g_params, real, key, scale=None, fake=None, shots=None):
        """One D update against ``fake`` (default: G's samples from split(key)[0], a
        conditioned G's given ``shots``, by default ``real``)."""
        gan = self.gan
        shots = real if shots is None else shots
        real = gan.real_partners(real)
        if gan.augment.on:     # split only then: without augmentation, the same draws as ever
            key, real_key, fake_key = jax.random.split(key, 3)
            real = gan.for_discriminator(real, real_key)
        z_key, gp_key = jax.random.split(key)
        if fake is None:
            fake = gan.sample(g_params, z_key, real.shape[0], shots)
        if gan.augment.on:
            fake = gan.for_discriminator(fake, fake_key)
        loss, grads = jax.value_and_grad(
            lambda d: discriminator_loss(gan.loss, gan.critic(shots), d, real, fake, gp_key)
        )(d_params)
        d_params, d_opt = self._apply("d", d_params, grads, d_opt, scale)
        return d_params, d_opt, loss

    def generator(self, g_params, g_opt, d_params, key, n, scale=None, shots=None):
        gan = self.gan
        z = gan.latents(key, n)
        loss, grads = jax.value_and_grad(
            lambda g: self._generator_loss(d_params, gan.generate(g, z, shots), z, key, shots))(g_params)
        g_params, g_opt = self._apply("g", g_params, grads, g_opt, scale)
        return g_params, g_opt, loss

    def _generator_loss(self, d_params, fake, z, key, shots):
        """G's loss on ``fake`` (generated from latents ``z``, drawn from ``key``, given
        ``shots``): as D judges it (augmented, if on, with draws from a key of its own),
        plus the mode-seeking term if on."""
        gan = self.gan
        judged = gan.for_discriminator(fake, jax.random.fold_in(key, 1)) if gan.augment.on else fake
        loss = generator_loss(gan.loss, gan.critic(shots), d_params, judged)
        if gan.loss.mode_seeking > 0:
            loss = loss + gan.loss.mode_seeking * mode_seeking(fake, z)
        return loss

    def gan_step(self, carry, real, key, n_critic: int, scale=None):
        """``n_critic`` D updates then one G update on the images ``real`` (which a
        conditioned G is also given); carry = (g, d, g_opt, d_opt)."""
        g_params, d_params, g_opt, d_opt = carry
        scale = scale or {"g": None, "d": None}
        keys = jax.random.split(key, n_critic + 1)
        n = real.shape[0]
        d_loss = jnp.zeros((), real.dtype)
        for i in range(n_critic - 1 if self.reuse_fake else n_critic):
            d_params, d_opt, d_loss = self.discriminator(d_params, d_opt, g_params, real, keys[i],
                                                         scale["d"])
        if not self.reuse_fake:
            g_params, g_opt, g_loss = self.generator(g_params, g_opt, d_params, keys[-1], n, scale["g"],
                                                     shots=real)
            return (g_params, d_params, g_opt, d_opt), jnp.stack([d_loss, g_loss])
        # one G forward for the last D update and the G update: its pullback gives G's gradient
        gan, last = self.gan, keys[n_critic - 1]
        fake, pull_g = jax.vjp(lambda g: gan.sample(g, jax.random.split(last)[0], n, real), g_params)
        d_params, d_opt, d_loss = self.discriminator(d_params, d_opt, g_params, real, last,
                                                     scale["d"], fake=jax.lax.stop_gradient(fake)
                                                     if self.stop else fake)
        g_loss, fake_grad = jax.value_and_grad(lambda x: self._generator_loss(
            d_params, x, gan.latents(jax.random.split(last)[0], n), last, real))(fake)
        g_params, g_opt = self._apply("g", g_params, pull_g(fake_grad)[0], g_opt, scale["g"])
        return (g_params, d_params, g_opt, d_opt), jnp.stack([d_loss, g_loss])


def scan_steps(step: Callable, carry, keys: jax.Array, layout: LoopLayout):
    """``lax.scan`` of ``step(carry, key)`` with the layout's unroll and remat.

    Differentiating a scan keeps every step's intermediates for the backward pass.
    ``remat=step`` keeps only each step's carry and recomputes the rest (memory grows
    by one carry per step); ``remat=nested`` also checkpoints chunks of about sqrt(steps)
    steps, keeping about 2 sqrt(steps) carries for about twice the forward compute.
    (A recursive bisection, log2(steps) carries, measured worse on second-order MAML:
    more memory at 10 steps and minutes of compilation; see docs/BENCHMARKS.md.)
    """
    steps = keys.shape[0]
    unroll = min(layout.unroll, max(steps, 1))
    if layout.remat == "none":
        return jax.lax.scan(step, carry, keys, unroll=unroll)
    step = jax.checkpoint(step)
    size = math.isqrt(steps - 1) + 1 if steps > 1 else 1     # ceil(sqrt(steps))
    chunks = steps // size
    if layout.remat == "step" or chunks < 2:
        return jax.lax.scan(step, carry, keys, unroll=unroll)

    @jax.checkpoint
    def chunk(c, chunk_keys):
        return jax.lax.scan(step, c, chunk_keys, unroll=min(unroll, size))

    split = chunks * size
    carry, out = jax.lax.scan(chunk, carry, keys[:split].reshape(chunks, size, *keys.shape[1:]))
    out = jax.tree_util.tree_map(lambda x: x.reshape(split, *x.shape[2:]), out)
    if split < steps:
        carry, rest = jax.lax.scan(step, carry, keys[split:], unroll=min(unroll, steps - split))
        out = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), out, rest)
    return carry, out


def make_inner_loop(gan: Gan, optim: OptimConfig, steps: int, layout: LoopLayout, *,
                    n_critic: int = 1, reuse_fake: bool = False,
                    stop_gradients: bool = False, freezing: Freezing = Freezing()) -> InnerLoop:
    """Returns ``adapt(params, support, key) -> (adapted {"g", "d"}, losses [steps, 2])``;
    losses are the (d_loss, g_loss) of each inner step; ``freezing``'s layers keep
    their values."""
    updates = GanUpdates(gan, make_inner_optimizer(optim), stop_gradients, reuse_fake, freezing)
    tx = updates.tx

    def adapt(params: dict, support: jax.Array, key: jax.Array):
        gan_params = {"g": params["g"], "d": params["d"]}
        if steps == 0:
            return gan_params, jnp.zeros((0, 2), support.dtype)
        scale = params.get("inner_lr", {"g": optim.lr, "d": optim.lr})
        carry = (params["g"], params["d"], tx.init(params["g"]), tx.init(params["d"]))
        step = lambda c, k: updates.gan_step(c, support, k, n_critic, scale)
        carry, losses = scan_steps(step, carry, jax.random.split(key, steps), layout)
        return {"g": carry[0], "d": carry[1]}, losses

    return adapt


def make_discriminator_loop(gan: Gan, optim: OptimConfig, steps: int, layout: LoopLayout,
                            stop_gradients: bool = False) -> Callable:
    """``adapt_d(d_params, g_params, real, key, scale, shots) -> d_params``: ``steps``
    discriminator updates against a fixed generator (DAWSON's query-adapted critic; a
    conditioned generator is given ``shots``, the task's support)."""
    updates = GanUpdates(gan, make_inner_optimizer(optim), stop_gradients)

    def adapt_d(d_params, g_params, real, key, scale=optim.lr, shots=None):
        def step(carry, k):
            d, opt = carry
            d, opt, loss = updates.discriminator(d, opt, g_params, real, k, scale, shots=shots)
            return (d, opt), loss
        if steps == 0:
            return d_params
        (d_params, _), _ = scan_steps(step, (d_params, updates.tx.init(d_params)),
                                      jax.random.split(key, steps), layout)
        return d_params

    return adapt_d


def make_adaptation(gan: Gan, cfg: MetaLearnConfig, steps: int) -> InnerLoop:
    """The run's own inner loop (its optimiser, n_critic, reuse_fake, frozen layers) for ``steps``
    steps, laid out for adaptation alone (no differentiation through it): what adapt,
    training grids and eval adapt a meta-learned initialisation with."""
    layout = resolve_layout(cfg.loop, cfg.model, steps)
    return make_inner_loop(gan, cfg.inner_optim, steps, layout, n_critic=cfg.algo.n_critic,
                           reuse_fake=cfg.algo.reuse_fake, freezing=Freezing.of(cfg.algo))
