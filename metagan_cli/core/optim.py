"""optax optimisers from config.  optax updates are pure, so inner optimisers are
differentiable and can live inside a jitted, scanned inner loop."""
from __future__ import annotations

import optax

from metagan_cli.config import OptimConfig


def make_optimizer(cfg: OptimConfig) -> optax.GradientTransformation:
    if cfg.name == "adam":
        return optax.adam(cfg.lr, b1=cfg.b1, b2=cfg.b2)
    if cfg.name == "sgd":
        return optax.sgd(cfg.lr, momentum=cfg.momentum or None)
    raise ValueError(f"unknown optimizer {cfg.name!r}")
