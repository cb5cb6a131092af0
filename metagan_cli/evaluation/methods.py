"""How each method of an eval turns K support shots into images at each adaptation budget.

Methods:

- the evaluated checkpoint (its own algorithm's initialisation, fine-tuned on the shots
  by the run's inner loop; Meta-SGD learning rates included when it has them);
- ``scratch``: a freshly initialised GAN (a new init per episode) trained on the shots
  by the same inner loop and budget, with its own optimiser settings (chosen on
  validation classes, ``evaluation.tuning``);
- ``pretrain + fine-tune``: a GAN trained on the pooled meta-train classes for the
  evaluated checkpoint's budget, fine-tuned on the shots by the same inner loop with its
  own optimiser settings;
- ``copy the shots``: returns the support images themselves (cycled); it needs no
  adaptation, so its numbers are the same at every budget.

Adaptation runs once per episode along one trajectory: the GAN and the inner
optimiser state are carried across chunks, and the generator is read off at each
budget.  Chunks are 1 or ``chunk`` steps long, so whatever the budgets only two
programs are compiled, and they are shared by every method, class and episode.
"""
from __future__ import annotations

import functools
from typing import Sequence

import jax
import numpy as np

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.algorithms.pretrain import PRETRAIN as PRETRAIN_ALGORITHM
from metagan_cli.core.algorithms.scratch import SCRATCH as SCRATCH_ALGORITHM
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import GanUpdates, scan_steps
from metagan_cli.core.partial_adaptation import Freezing
from metagan_cli.core.loop_layout import resolve_layout
from metagan_cli.core.optim import make_inner_optimizer

COPY = "copy the shots"
SCRATCH = SCRATCH_ALGORITHM.name          # the baseline is that algorithm's initialisation
PRETRAIN = "pretrain + fine-tune"


def chunk_plan(budgets: Sequence[int], chunk: int) -> list[list[int]]:
    """For sorted ``budgets``, the chunk lengths (``chunk`` or 1) between consecutive
    budgets: e.g. budgets 0, 1, 5, 10, 50 with chunk 10 -> [], [1], [1]*4, [1]*5, [10]*4."""
    plan, done = [], 0
    for budget in budgets:
        delta, steps = budget - done, []
        steps += [chunk] * (delta // chunk)
        steps += [1] * (delta % chunk)
        plan.append(steps)
        done = budget
    return plan


class Trajectory:
    """``run(params, support, key, budgets, lr) -> [generator params at each budget]``:
    one inner optimiser's adaptation.  The learning rate is an argument of the compiled
    chunk, so one program serves every method, class, episode, budget list and rate
    that use the same optimiser family."""

    def __init__(self, cfg: MetaLearnConfig, gan: Gan, chunk: int = 10):
        self.chunk, self.lr = chunk, cfg.inner_optim.lr
        updates = GanUpdates(gan, make_inner_optimizer(cfg.inner_optim), reuse_fake=cfg.algo.reuse_fake,
                             freezing=Freezing.of(cfg.algo))
        self._tx = updates.tx
        n_critic = cfg.algo.n_critic
        # the layout adaptation alone gets (no differentiation through the chunk)
        self.layout = layout = resolve_layout(cfg.loop, cfg.model, chunk)

        def advance(carry, support, keys, scale):
            step = lambda c, k: updates.gan_step(c, support, k, n_critic, scale)
            carry, _ = scan_steps(step, carry, keys, layout)
            return carry

        self._advance = jax.jit(advance)
        self._init = jax.jit(lambda g, d: (g, d, self._tx.init(g), self._tx.init(d)))

    def run(self, params: dict, support: jax.Array, key: jax.Array, budgets: Sequence[int],
            lr: float | None = None) -> list:
        budgets = sorted(set(int(b) for b in budgets))
        carry = self._init(params["g"], params["d"])
        scale = params.get("inner_lr")      # Meta-SGD's learned rates, else one rate everywhere
        if scale is None:
            rate = np.float32(self.lr if lr is None else lr)
            scale = jax.tree_util.tree_map(lambda p: rate, {"g": params["g"], "d": params["d"]})
        keys = jax.random.split(key, max(budgets[-1], 1))
        out, done = [], 0
        for steps in chunk_plan(budgets, self.chunk):
            for n in steps:
                carry = self._advance(carry, support, keys[done:done + n], scale)
                done += n
            out.append(carry[0])
        return out


def copy_shots(support: np.ndarray, n: int) -> np.ndarray:
    """``n`` images that are the support shots, cycled."""
    return np.asarray(support)[np.arange(n) % len(support)]


def pretrain_config(cfg: MetaLearnConfig, steps: int) -> MetaLearnConfig:
    """The evaluated run's config with algo=pretrain and the budget of its checkpoint:
    ``steps`` meta-steps of algo.inner_steps GAN steps, each on meta_batch x shots
    pooled images, as many images per GAN step as the meta-learner's tasks see."""
    import dataclasses
    # no query images, so no outer objective of MAML's
    algo = dataclasses.replace(cfg.algo, name=PRETRAIN_ALGORITHM.name, learn_inner_lr=False, outer_mmd=0.0)
    train = dataclasses.replace(cfg.train, steps=max(int(steps), 1))
    return dataclasses.replace(cfg, algo=algo, train=train)


def with_full_adaptation(cfg: MetaLearnConfig) -> MetaLearnConfig:
    """``cfg`` adapting every parameter: its algo with Freezing's defaults (no FreezeD, no
    partial generator adaptation)."""
    import dataclasses
    return dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, **dataclasses.asdict(Freezing())))


def with_inner_optimiser(cfg: MetaLearnConfig, optim) -> MetaLearnConfig:
    import dataclasses
    return dataclasses.replace(cfg, inner_optim=optim)


def same_architecture(a: MetaLearnConfig, b: MetaLearnConfig) -> bool:
    return a.model == b.model and a.gan_loss == b.gan_loss and a.augment == b.augment


def sample_fn(gan: Gan, n: int, temperature: float = 1.0):
    """``sample(g params, key, support) -> n images`` with z ~ N(0, temperature^2) (only a
    conditioned generator looks at the support)."""
    compiled = _sampler(gan, n)
    return lambda g, key, support: compiled(g, key, support, np.float32(temperature))


@functools.lru_cache(maxsize=None)
def _sampler(gan: Gan, n: int):
    # the temperature is an argument, not a constant: an eval drawing its run at T != 1 and
    # its baselines at 1 compiles the generator once, not twice
    return jax.jit(lambda g, key, support, temperature: gan.sample(g, key, n, support, temperature))


