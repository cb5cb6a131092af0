"""The GAN inner loop: adapt a (G, D) pair to one task's support images.

One inner step is ``n_critic`` discriminator updates followed by one generator
update, each on the task's K support images and a fresh batch of K generated ones
(``algo.reuse_fake``: the generator update reuses the last discriminator update's).
The loop over steps is a ``lax.scan`` whose ``unroll`` is a config value: on CPU, ops
inside an XLA while loop run far slower than unrolled ones, while on accelerators a
rolled loop compiles faster at little cost.  Everything is a pure function of
(params, support, key), so it can be jitted, vmapped over tasks and differentiated
(second-order MAML differentiates straight through it).

When ``params`` carries ``"inner_lr"`` (Meta-SGD: a learning rate per parameter,
meta-learned), each update of the inner optimiser is scaled elementwise by it.
"""
from __future__ import annotations

import dataclasses
import math
import operator
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from metagan_cli.config import AlgoConfig, LoopConfig, OptimConfig
from metagan_cli.core.gan import Gan
from metagan_cli.core.losses import discriminator_loss, generator_loss
from metagan_cli.core.optim import make_inner_optimizer

InnerLoop = Callable[[dict, jax.Array, jax.Array], tuple[dict, jax.Array]]


def resolve_unroll(loop: LoopConfig, steps: int, backend: str | None = None,
                   fast_in_loops: bool = False) -> int:
    """The scan unroll factor.  'auto' on CPU: for a model whose ops run as fast inside
    an XLA while loop as outside one (``fast_in_loops``: matmul convolutions) a short
    unroll (``ROLLED_UNROLL``), which compiles in seconds; otherwise full unroll for
    short loops (XLA's CPU while loop runs convolutions several times slower) and 10 for
    long ones.  On accelerators 1 (faster compiles at little cost)."""
    backend = backend or jax.default_backend()
    if loop.scan_unroll == "full":
        return max(steps, 1)
    if loop.scan_unroll == "auto":
        if backend == "cpu":
            if fast_in_loops:
                return min(ROLLED_UNROLL, max(steps, 1))
            return max(steps, 1) if steps <= 20 else 10
        return 1
    return min(int(loop.scan_unroll), max(steps, 1))


ROLLED_UNROLL = 1


def fast_in_loops(model) -> bool:
    """Whether the model's ops run about as fast inside an XLA while loop as outside
    one on this backend (its convolutions are matmuls; see models.conv_impl)."""
    from metagan_cli.core.models import conv_impl
    return conv_impl(model) == "matmul"


def resolve_loop_config(loop: LoopConfig, model, steps: int, second_order: bool = False,
                        backend: str | None = None) -> LoopConfig:
    """``loop`` with every 'auto' replaced by what it means for this model, number of
    inner steps, order of differentiation and backend."""
    backend = backend or jax.default_backend()
    fast = fast_in_loops(model)
    return dataclasses.replace(
        loop, scan_unroll=resolve_unroll(loop, steps, backend, fast),
        task_batching=(resolve_task_batching(backend, fast) if loop.task_batching == "auto"
                       else loop.task_batching),
        remat=remat_mode(loop, steps, second_order, backend))


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
                 reuse_fake: bool = False):
        self.gan, self.tx, self.stop, self.reuse_fake = gan, tx, stop_gradients, reuse_fake

    def _apply(self, params, grads, opt, scale):
        updates, opt = self.tx.update(grads, opt, params)
        if isinstance(scale, (int, float)):
            updates = jax.tree_util.tree_map(lambda u: u * scale, updates)
        elif scale is not None:
            updates = jax.tree_util.tree_map(jnp.multiply, updates, scale)
        if self.stop:
            updates = jax.lax.stop_gradient(updates)
        return optax.apply_updates(params, updates), opt

    def discriminator(self, d_params, d_opt, g_params, real, key, scale=None, fake=None):
        """One D update against ``fake`` (default: G's samples from split(key)[0])."""
        gan = self.gan
        z_key, gp_key = jax.random.split(key)
        if fake is None:
            fake = gan.sample(g_params, z_key, real.shape[0])
        loss, grads = jax.value_and_grad(
            lambda d: discriminator_loss(gan.loss, gan.discriminate, d, real, fake, gp_key)
        )(d_params)
        d_params, d_opt = self._apply(d_params, grads, d_opt, scale)
        return d_params, d_opt, loss

    def generator(self, g_params, g_opt, d_params, key, n, scale=None):
        gan = self.gan
        loss, grads = jax.value_and_grad(
            lambda g: generator_loss(gan.loss, gan.discriminate, d_params, gan.sample(g, key, n))
        )(g_params)
        g_params, g_opt = self._apply(g_params, grads, g_opt, scale)
        return g_params, g_opt, loss

    def gan_step(self, carry, real, key, n_critic: int, scale=None):
        """``n_critic`` D updates then one G update; carry = (g, d, g_opt, d_opt)."""
        g_params, d_params, g_opt, d_opt = carry
        scale = scale or {"g": None, "d": None}
        keys = jax.random.split(key, n_critic + 1)
        n = real.shape[0]
        d_loss = jnp.zeros((), real.dtype)
        for i in range(n_critic - 1 if self.reuse_fake else n_critic):
            d_params, d_opt, d_loss = self.discriminator(d_params, d_opt, g_params, real, keys[i],
                                                         scale["d"])
        if not self.reuse_fake:
            g_params, g_opt, g_loss = self.generator(g_params, g_opt, d_params, keys[-1], n, scale["g"])
            return (g_params, d_params, g_opt, d_opt), jnp.stack([d_loss, g_loss])
        # one G forward for the last D update and the G update: its pullback gives G's gradient
        gan, last = self.gan, keys[n_critic - 1]
        fake, pull_g = jax.vjp(lambda g: gan.sample(g, jax.random.split(last)[0], n), g_params)
        d_params, d_opt, d_loss = self.discriminator(d_params, d_opt, g_params, real, last,
                                                     scale["d"], fake=jax.lax.stop_gradient(fake)
                                                     if self.stop else fake)
        g_loss, fake_grad = jax.value_and_grad(
            lambda x: generator_loss(gan.loss, gan.discriminate, d_params, x))(fake)
        g_params, g_opt = self._apply(g_params, pull_g(fake_grad)[0], g_opt, scale["g"])
        return (g_params, d_params, g_opt, d_opt), jnp.stack([d_loss, g_loss])


def scan_steps(step: Callable, carry, keys: jax.Array, loop: LoopConfig):
    """``lax.scan`` of ``step(carry, key)`` with the configured unroll and remat.

    Differentiating a scan keeps every step's intermediates for the backward pass.
    ``remat=step`` keeps only each step's carry and recomputes the rest (memory grows
    by one carry per step); ``remat=nested`` also checkpoints chunks of about sqrt(steps)
    steps, keeping about 2 sqrt(steps) carries for about twice the forward compute.
    (A recursive bisection, log2(steps) carries, measured worse on second-order MAML:
    more memory at 10 steps and minutes of compilation; see docs/BENCHMARKS.md.)
    """
    steps = keys.shape[0]
    unroll = resolve_unroll(loop, steps)
    mode = remat_mode(loop)
    if mode == "none":
        return jax.lax.scan(step, carry, keys, unroll=unroll)
    step = jax.checkpoint(step)
    size = math.isqrt(steps - 1) + 1 if steps > 1 else 1     # ceil(sqrt(steps))
    chunks = steps // size
    if mode == "step" or chunks < 2:
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


REMAT_MODES = ("none", "step", "nested")


def remat_mode(loop: LoopConfig, steps: int | None = None, second_order: bool = False,
               backend: str | None = None) -> str:
    """none | step | nested (``remat: true`` means step; ``auto``: see ``resolve_remat``)."""
    if loop.remat is True:
        return "step"
    if loop.remat is False:
        return "none"
    if loop.remat == "auto":
        return resolve_remat(steps, second_order, backend)
    return str(loop.remat)


NESTED_REMAT_ABOVE = 20    # remat=auto: second-order loops longer than this use remat=nested


def resolve_remat(steps: int | None, second_order: bool, backend: str | None = None) -> str:
    """remat=auto: nothing to rematerialise unless the step differentiates through the
    inner loop (second-order MAML), which keeps every inner step's intermediates: then
    ``nested`` for loops longer than ``NESTED_REMAT_ABOVE`` steps (about 2 sqrt(steps)
    carries instead of steps x a step's intermediates), none for short ones (faster)."""
    if second_order and steps is not None and steps > NESTED_REMAT_ABOVE:
        return "nested"
    return "none"


def with_task_batching_resolved(cfg):
    """A MetaLearnConfig whose loop.task_batching=auto is resolved for its model."""
    if cfg.loop.task_batching != "auto":
        return cfg
    batching = resolve_task_batching(jax.default_backend(), fast_in_loops(cfg.model))
    return dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, task_batching=batching))


def resolve_loop(loop: LoopConfig, model, steps: int, second_order: bool = False,
                 backend: str | None = None) -> dict:
    """The loop structure 'auto' resolves to, as a dict (for logs and benchmarks)."""
    backend = backend or jax.default_backend()
    resolved = resolve_loop_config(loop, model, steps, second_order, backend)
    return {"backend": backend, "scan_unroll": resolved.scan_unroll,
            "task_batching": resolved.task_batching, "remat": resolved.remat}


def make_inner_loop(gan: Gan, algo: AlgoConfig, optim: OptimConfig, loop: LoopConfig,
                    steps: int, stop_gradients: bool = False) -> InnerLoop:
    """Returns ``adapt(params, support, key) -> (adapted {"g", "d"}, losses [steps, 2])``;
    losses are the (d_loss, g_loss) of each inner step."""
    updates = GanUpdates(gan, make_inner_optimizer(optim), stop_gradients, algo.reuse_fake)
    tx = updates.tx
    loop = resolve_loop_config(loop, gan.model, steps,
                               second_order=algo.name == "maml" and not stop_gradients)

    def adapt(params: dict, support: jax.Array, key: jax.Array):
        gan_params = {"g": params["g"], "d": params["d"]}
        if steps == 0:
            return gan_params, jnp.zeros((0, 2), support.dtype)
        scale = params.get("inner_lr", {"g": optim.lr, "d": optim.lr})
        carry = (params["g"], params["d"], tx.init(params["g"]), tx.init(params["d"]))
        step = lambda c, k: updates.gan_step(c, support, k, algo.n_critic, scale)
        carry, losses = scan_steps(step, carry, jax.random.split(key, steps), loop)
        return {"g": carry[0], "d": carry[1]}, losses

    return adapt


def make_discriminator_loop(gan: Gan, optim: OptimConfig, loop: LoopConfig,
                            steps: int, stop_gradients: bool = False) -> Callable:
    """``adapt_d(d_params, g_params, real, key) -> d_params``: ``steps`` discriminator
    updates against a fixed generator (DAWSON's query-adapted critic)."""
    updates = GanUpdates(gan, make_inner_optimizer(optim), stop_gradients)
    loop = resolve_loop_config(loop, gan.model, steps,
                               second_order=not stop_gradients)   # (used by MAML only)

    def adapt_d(d_params, g_params, real, key, scale=optim.lr):
        def step(carry, k):
            d, opt = carry
            d, opt, loss = updates.discriminator(d, opt, g_params, real, k, scale)
            return (d, opt), loss
        if steps == 0:
            return d_params
        (d_params, _), _ = scan_steps(step, (d_params, updates.tx.init(d_params)),
                                      jax.random.split(key, steps), loop)
        return d_params

    return adapt_d


def resolve_task_batching(backend: str, fast_in_loops: bool = False) -> str:
    """task_batching=auto: per-task weights under vmap become grouped convolutions,
    slow on CPU and right on accelerators.  On CPU, a model that runs as fast inside a
    while loop maps over tasks (one task's program compiled once, one task's memory at
    a time); others unroll the tasks."""
    if backend != "cpu":
        return "vmap"
    return "map" if fast_in_loops else "unrolled"


def map_over_tasks(fn: Callable, batching: str, backend: str | None = None,
                   fast_in_loops: bool = False) -> Callable:
    """Applies ``fn`` to each task along axis 0 of every argument and stacks the results.

    vmap turns per-task weights into grouped convolutions (good on accelerators, slow
    on CPU); ``unrolled`` traces one copy per task; ``map`` is a rolled lax.map.
    """
    if batching == "auto":
        batching = resolve_task_batching(backend or jax.default_backend(), fast_in_loops)
    if batching == "vmap":
        return jax.vmap(fn)
    if batching == "map":
        return lambda *args: jax.lax.map(lambda a: fn(*a), args)

    def unrolled(*args):
        n = jax.tree_util.tree_leaves(args)[0].shape[0]
        outs = [fn(*jax.tree_util.tree_map(operator.itemgetter(i), args)) for i in range(n)]
        return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *outs)
    return unrolled
