"""Settings chosen on validation classes: the baselines' fine-tuning optimisers, and
each generator's adaptation budget in the low-data protocol.

Scratch and pretrain + fine-tune are not made for the evaluated run's inner optimiser
(Adam 2e-3 suits a Reptile initialisation; it wrecks a pretrained GAN in a few steps).
Each gets the Adam learning rate, among a few, with the lowest mean KID over the
adaptation budgets (0 excluded) on a handful of validation classes: classes that were
never meta-trained on and are not held out, so nothing is chosen on test classes.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from metagan_cli.config import LowDataConfig, OptimConfig, TuningConfig
from metagan_cli.evaluation.protocol import (TUNING, Context, Method, low_data_ks, measure_generation,
                                             measure_low_data)


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


def choose_low_data_budgets(ctx: Context, methods: Sequence[Method], cfg: LowDataConfig,
                            validation_classes: Sequence[int], shots: int, seed: int) -> tuple[dict, dict]:
    """({method: budget}, {"k", "on", "accuracy": {method: {budget: %}}}): for each method
    that adapts, the candidate of ``cfg.choose_budget`` whose added images give the highest
    mean low-data accuracy (over classifier seeds) at the smallest k, on the validation
    classes; a tie goes to the fewer steps.  ({}, {}) when off or nothing to choose on.
    The held-out classes play no part, so the choice is fair to read on them."""
    adapting = [dataclasses.replace(m, budget=None) for m in methods if m.trajectory is not None]
    classes = list(validation_classes)
    ks = low_data_ks(ctx, classes, cfg.ks) if classes else []
    if not cfg.choose_budget or not adapting or len(classes) < 2 or not ks:
        return {}, {}
    one_k = dataclasses.replace(cfg, ks=(ks[0],))
    accuracy = {m.name: {} for m in adapting}
    for budget in sorted(set(cfg.choose_budget)):
        measured = measure_low_data(ctx, adapting, classes, one_k, shots, budget, seed, standard_rows=False)
        for m in adapting:
            accuracy[m.name][budget] = round(100 * float(np.mean(measured[(ks[0], m.name)])), 3)
    chosen = {name: max(table, key=lambda b: (table[b], -b)) for name, table in accuracy.items()}
    return chosen, {"k": ks[0], "on": classes, "accuracy": accuracy}
