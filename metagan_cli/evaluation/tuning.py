"""The baselines' own fine-tuning settings, chosen on validation classes.

Scratch and pretrain + fine-tune are not made for the evaluated run's inner optimiser
(Adam 2e-3 suits a Reptile initialisation; it wrecks a pretrained GAN in a few steps).
Each gets the Adam learning rate, among a few, with the lowest mean KID over the
adaptation budgets (0 excluded) on a handful of validation classes: classes that were
never meta-trained on and are not held out, so nothing is chosen on test classes.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from metagan_cli.config import OptimConfig, TuningConfig
from metagan_cli.evaluation.protocol import TUNING, Context, Method, measure_generation


def candidates(cfg: TuningConfig) -> list[OptimConfig]:
    return [OptimConfig(name="adam", lr=float(lr), b1=0.5, b2=0.999) for lr in cfg.lrs]


def choose(ctx: Context, make_method: Callable[[OptimConfig], Method], cfg: TuningConfig,
           validation_classes: Sequence[int], shots: int, budgets: Sequence[int],
           real_images: int) -> tuple[OptimConfig | None, list]:
    """(the chosen optimiser, the search as [{"optimiser", "mean_kid"}]); (None, [])
    when there is nothing to search or no validation class.  Every candidate sees the
    same support sets, latents and keys."""
    classes = list(validation_classes)[:cfg.classes]
    steps = sorted(b for b in set(budgets) if b > 0)
    if not cfg.lrs or not classes or not steps:
        return None, []
    table, best = [], None
    for optim in candidates(cfg):
        method = make_method(optim)
        measured = measure_generation(ctx, [method], classes, cfg.episodes, shots, steps,
                                      cfg.samples, real_images, stream=TUNING)
        kids = np.concatenate([measured.values[(method.name, b, "kid")] for b in steps])
        score = float(np.nanmean(kids))
        table.append({"optimiser": {"name": optim.name, "lr": optim.lr, "b1": optim.b1, "b2": optim.b2},
                      "mean_kid": round(score, 6)})
        if best is None or score < best[0]:
            best = (score, optim)
    return best[1], table
