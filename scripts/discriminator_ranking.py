"""Does a run's discriminator know its good samples from its poor ones?

Before keeping, of several samples, those the discriminator scores as most real
(discriminator rejection sampling) is worth building, this measures whether that score
picks recognisable samples.  Per measured class and support set (the run's K shots: the
first K images of a random order), the run's initialisation draws ``--samples`` images from the
shots at the run's temperature (as ``adapt`` with 0 steps does); D scores them (a pair
discriminator beside the shot each came from); the eval's evaluator network says which
are recognised (nearest class prototype among the measured classes, each class's
prototype from its images other than the shots).  Printed as JSON: the share recognised
among all samples, among the half D scores highest and among the other half, and the
correlation between D's score and being recognised, each a mean over support sets.

    python scripts/discriminator_ranking.py runs/quality/omniglot/warp_preset/runs/0
    python scripts/discriminator_ranking.py RUN_DIR --classes held_out --samples 100 --support-sets 2
"""
from __future__ import annotations

import argparse
import json
import sys

import jax
import numpy as np

from metagan_cli.config import eval_config
from metagan_cli.data.imaging import to_model_input
from metagan_cli.errors import UserError
from metagan_cli.evaluation import metrics as M
from metagan_cli.workflows.common import load_run
from metagan_cli.workflows.evaluate import held_out_data, measured_classes


def ranking(run_dir: str, classes: str = "validation", samples: int = 200, support_sets: int = 3,
            seed: int = 0, eval_values: dict | None = None) -> dict:
    """``eval_values``: eval settings besides ``classes`` (the evaluator's, e.g. evaluator_steps)."""
    _, _, cfg, gan, params = load_run(run_dir)
    measured = measured_classes(cfg, classes)
    shots = cfg.shots
    ev = eval_config({**(eval_values or {}), "classes": classes})
    data, evaluator, _ = held_out_data(cfg, shots, ev, measured)
    draw = jax.jit(lambda g, key, support: gan.sample(g, key, samples, support, cfg.algo.sample_temperature))
    score = jax.jit(lambda d, support, x: gan.critic(support)(d, x)[0].reshape(-1))
    rng = np.random.default_rng(seed)
    orders = {c: rng.permutation(np.flatnonzero(data.labels == c)) for c in measured}
    rows = []
    for e in range(support_sets):
        orders = {c: rng.permutation(order) for c, order in orders.items()}
        protos = np.stack([evaluator.features(to_model_input(data.pixels[orders[c][shots:]])).mean(0)
                           for c in measured])
        for i, c in enumerate(measured):
            support = jax.numpy.asarray(to_model_input(data.pixels[orders[c][:shots]]))
            key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), e), i)
            images = draw(params["g"], key, support)
            d = np.asarray(score(params["d"], support, images))
            hit = (M.prototype_predict(evaluator.features(np.asarray(images)), protos) == i).astype(float)
            best = np.argsort(-d)[:samples // 2]
            rest = np.setdiff1d(np.arange(samples), best)
            corr = np.corrcoef(d, hit)[0, 1] if 0 < hit.mean() < 1 else np.nan
            rows.append((hit.mean(), hit[best].mean(), hit[rest].mean(), corr))
    r = np.array(rows)
    return {"run": str(run_dir), "classes": classes, "class_count": len(measured), "support_sets": support_sets,
            "samples": samples, "temperature": cfg.algo.sample_temperature,
            "recognised_all": float(r[:, 0].mean()), "recognised_top_half_by_d": float(r[:, 1].mean()),
            "recognised_bottom_half_by_d": float(r[:, 2].mean()),
            "correlation_d_recognised": float(np.nanmean(r[:, 3])) if np.isfinite(r[:, 3]).any() else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a meta-train run dir")
    parser.add_argument("--classes", choices=("validation", "held_out"), default="validation")
    parser.add_argument("--samples", type=int, default=200, help="samples per support set (even, >= 4)")
    parser.add_argument("--support-sets", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.samples < 4 or args.samples % 2 or args.support_sets < 1:
        parser.error("--samples must be even and at least 4, --support-sets at least 1")
    try:
        result = ranking(args.run_dir, args.classes, args.samples, args.support_sets, args.seed)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
