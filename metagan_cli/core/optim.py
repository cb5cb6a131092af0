"""optax optimisers from config.  optax updates are pure, so inner optimisers are
differentiable and can live inside a jitted, scanned inner loop."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import optax

from metagan_cli.config import OptimConfig
from metagan_cli.core.registry import Registry

# Inside sqrt(v + eps_root): keeps Adam's update differentiable where a gradient is
# exactly zero (d sqrt(v)/dv is infinite at 0, and inf * 0 = NaN in second-order MAML).
ADAM_EPS_ROOT = 1e-16


@dataclass(frozen=True)
class Optimizer:
    """``build(cfg, lr, differentiable)``: the optax transformation at learning rate
    ``lr``; ``differentiable``: safe to differentiate through (second-order MAML)."""
    name: str
    build: Callable[[OptimConfig, float, bool], optax.GradientTransformation]


OPTIMIZERS: Registry[Optimizer] = Registry("optim.name")
OPTIMIZERS.register(Optimizer(
    "adam", lambda cfg, lr, differentiable: optax.adam(
        lr, b1=cfg.b1, b2=cfg.b2, eps_root=ADAM_EPS_ROOT if differentiable else 0.0)))
OPTIMIZERS.register(Optimizer(
    "sgd", lambda cfg, lr, differentiable: optax.sgd(lr, momentum=cfg.momentum or None)))


def make_optimizer(cfg: OptimConfig) -> optax.GradientTransformation:
    """The optimiser with its learning rate (outer loops, pretraining)."""
    return OPTIMIZERS.get(cfg.name).build(cfg, cfg.lr, False)


def make_inner_optimizer(cfg: OptimConfig) -> optax.GradientTransformation:
    """The optimiser's update direction at unit learning rate; the inner loop multiplies
    it by ``cfg.lr`` or by meta-learned per-parameter rates (Meta-SGD)."""
    return OPTIMIZERS.get(cfg.name).build(cfg, 1.0, True)
