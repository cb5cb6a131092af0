"""optax optimisers from config.  optax updates are pure, so inner optimisers are
differentiable and can live inside a jitted, scanned inner loop."""
from __future__ import annotations

import optax

from metagan_cli.config import OptimConfig

# Inside sqrt(v + eps_root): keeps Adam's update differentiable where a gradient is
# exactly zero (d sqrt(v)/dv is infinite at 0, and inf * 0 = NaN in second-order MAML).
ADAM_EPS_ROOT = 1e-16


def make_optimizer(cfg: OptimConfig) -> optax.GradientTransformation:
    """The optimiser with its learning rate (outer loops, pretraining)."""
    if cfg.name == "adam":
        return optax.adam(cfg.lr, b1=cfg.b1, b2=cfg.b2)
    if cfg.name == "sgd":
        return optax.sgd(cfg.lr, momentum=cfg.momentum or None)
    raise ValueError(f"unknown optimizer {cfg.name!r}")


def make_inner_optimizer(cfg: OptimConfig) -> optax.GradientTransformation:
    """The optimiser's update direction at unit learning rate; the inner loop multiplies
    it by ``cfg.lr`` or by meta-learned per-parameter rates (Meta-SGD)."""
    if cfg.name == "adam":
        return optax.adam(1.0, b1=cfg.b1, b2=cfg.b2, eps_root=ADAM_EPS_ROOT)
    if cfg.name == "sgd":
        return optax.sgd(1.0, momentum=cfg.momentum or None)
    raise ValueError(f"unknown optimizer {cfg.name!r}")
