"""`metagan compare`: several methods measured together, each a run dir or a sweep dir
of its meta-training seeds (a meta-learner, algo=pretrain, algo=scratch, algo=dagan,
any model).

Every method of one seed is measured in one pass of the eval's protocol: the same
held-out classes, support sets, latents, classification episodes, low-data classifier
seeds and evaluator network, so every pair of methods is compared paired by unit
within a seed, and over seeds by the seeds' mean differences.  Each method adapts with
its own run's inner loop and generates with its own architecture; in the low-data
protocol each is read at the budget adapt gives it by default (DAGAN 0 steps, the
others their algo.inner_steps) unless eval.low_data.budget sets one for all.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import jax

from metagan_cli.config import ConfigError, MetaLearnConfig, eval_config
from metagan_cli.core.algorithms import algorithm
from metagan_cli.core.gan import Gan
from metagan_cli.core.meta_state import EVAL_STREAM, root_key
from metagan_cli.errors import UserError
from metagan_cli.evaluation import compare_report
from metagan_cli.evaluation import protocol as P
from metagan_cli.evaluation import summary
from metagan_cli.evaluation.methods import COPY, Trajectory, sample_fn
from metagan_cli.runs.progress import Progress
from metagan_cli.workflows.common import check_arguments
from metagan_cli.workflows.evaluate import (_optim_text, _versions, held_out_data, load_runs, measured_classes,
                                             split_difference)

log = logging.getLogger("metagan")


@dataclass
class MethodRuns:
    """One method: its runs by seed, and what it adapts and samples with."""
    label: str
    cfg: MetaLearnConfig
    runs: dict = field(default_factory=dict)      # seed -> Run
    trajectory: Trajectory | None = None
    sample: object = None

    @property
    def budget(self) -> int:
        return algorithm(self.cfg).default_adapt_steps(self.cfg)


def _label(cfg: MetaLearnConfig, taken: set) -> str:
    """The algorithm, with its model when that is not its usual one; a number if taken."""
    usual = ("dcgan", algorithm(cfg).model)
    label = cfg.algo.name + ("" if cfg.model.arch in usual else f", model={cfg.model.arch}")
    n, unique = 2, label
    while unique in taken:
        unique, n = f"{label} #{n}", n + 1
    return unique


def load_methods(groups: list, labels: list | None = None) -> list[MethodRuns]:
    """Each of ``groups`` (a run dir, a sweep dir or a list of run dirs) as one method,
    named by ``labels`` (default: its algorithm); all of one task and split, and with
    the same seeds."""
    if len(groups) < 2:
        raise UserError("runs= needs two methods or more, e.g. runs=[REPTILE_SWEEP_DIR,DAGAN_SWEEP_DIR]")
    if labels is not None and (len(labels) != len(groups) or len(set(map(str, labels))) != len(labels)):
        raise UserError(f"labels= needs one distinct name per method of runs= ({len(groups)}); got {labels}")
    methods = []
    for i, group in enumerate(groups):
        runs = load_runs(group)
        label = str(labels[i]) if labels else _label(runs[0].cfg, {m.label for m in methods})
        methods.append(MethodRuns(label, runs[0].cfg, {r.cfg.seed: r for r in runs}))
    for i, m in enumerate(methods[1:], 1):
        differ = split_difference(methods[0].cfg, m.cfg)
        if differ:
            raise UserError(f"compare: {groups[0]} and {groups[i]} are runs of different tasks or splits "
                            f"({differ} differs); compare takes runs of one task and split")
    seeds = sorted(methods[0].runs)
    for m in methods[1:]:
        if sorted(m.runs) != seeds:
            raise UserError(f"compare: {methods[0].label} has seeds {seeds} and {m.label} {sorted(m.runs)}; "
                            f"give every method the same meta-training seeds (they are paired by seed)")
    return methods


def compare(groups: list, out_dir: str | Path, eval_values: dict | None = None,
            shots: int | None = None, seed: int = 0, labels: list | None = None) -> dict:
    """Measures every method and writes compare.json, compare.csv, plane.png and compare.md."""
    t0 = time.perf_counter()
    try:
        ev = eval_config(eval_values)
    except ConfigError as err:
        raise UserError(str(err)) from None
    if ev.low_data.choose_budget:
        raise UserError("eval.low_data.choose_budget is metagan eval's; compare reads each method at "
                        "adapt's default budget, or eval.low_data.budget=N for all (choose N with eval)")
    methods = load_methods(groups, labels)
    cfg = methods[0].cfg
    shots = cfg.shots if shots is None else shots
    check_arguments(shots=shots, seed=seed)
    # eval.classes=validation: choose between methods (a lever on or off) on the
    # validation classes, paired, before any of them is measured on held-out classes
    test_classes = measured_classes(cfg, ev.classes)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data, evaluator, reference = held_out_data(cfg, shots, ev, test_classes)
    names = data.class_names
    most = max(ev.samples, ev.classification.generated_per_class, ev.low_data.generated)
    for m in methods:
        gan = Gan.of(m.cfg)
        # each run draws at its own temperature, as adapt and sample do
        m.trajectory = Trajectory(m.cfg, gan, ev.chunk)
        m.sample = sample_fn(gan, most, m.cfg.algo.sample_temperature)
    ctx = P.Context(data.pixels, data.labels, names, evaluator, methods[0].sample,
                    jax.random.fold_in(root_key(seed), EVAL_STREAM), reference)
    budgets = sorted(set(ev.budgets) | {m.budget for m in methods})
    class_budgets = list(ev.classification.budgets or sorted({m.budget for m in methods}))
    low_budget = ev.low_data.budget
    labels = [m.label for m in methods]
    pairs = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]]
    pairs += [(a, COPY) for a in labels] if ev.baselines.copy else []
    augmented = labels if ev.low_data.augment_generated else []
    mixed = labels if ev.low_data.mix_augmented else []
    row_pairs = summary.low_data_row_pairs(labels, augmented, mixed)

    seeds = sorted(methods[0].runs)
    per_run, grids = [], {}
    units = len(test_classes) * ev.episodes
    progress = Progress(len(seeds) * units, desc="compare", unit="episode", log_every=max(1, units // 4))
    for i, s in enumerate(seeds):
        measured_methods = [P.Method(m.label, lambda key, p=m.runs[s].params: p,
                                     m.trajectory, None, {"optimiser": _optim_text(m.cfg.inner_optim)},
                                     m.sample, m.budget if low_budget is None else None) for m in methods]
        if ev.baselines.copy:
            measured_methods.append(P.Method(COPY))
        log.info("compare, seed %s: %s", s, ", ".join(labels))
        measured = P.measure_generation(ctx, measured_methods, test_classes, ev.episodes, shots, budgets,
                                        ev.samples, ev.real_images, grid_classes=ev.grid_classes if i == 0 else 0,
                                        grid_samples=ev.grid_samples, on_unit=lambda: progress.update(1))
        grids = grids or measured.grids
        classification = P.measure_classification(ctx, measured_methods, test_classes, ev.classification,
                                                  shots, class_budgets)
        low_data = P.measure_low_data(ctx, measured_methods, test_classes, ev.low_data, shots,
                                      low_budget if low_budget is not None else 0, seed,
                                      augmented=augmented, mixed=mixed)
        per_run.append(summary.run_records(f"seed {s}", measured, classification, low_data, None, [],
                                           names, pairs=pairs + row_pairs))
    progress.close()
    over_seeds = None
    if len(seeds) > 1:
        over_seeds = "seeds " + ", ".join(str(s) for s in seeds)
        per_run.append(summary.across_runs(over_seeds, per_run))
    metadata = {
        "task": cfg.task.name, "shots": shots, "seed": seed, "seeds": seeds, "over_seeds": over_seeds,
        "methods": [{"label": m.label, "algo": m.cfg.algo.name, "model": m.cfg.model.arch,
                     "run_dirs": [str(m.runs[s].run_dir) for s in seeds],
                     "checkpoint_steps": [m.runs[s].step for s in seeds],
                     "low_data_budget": m.budget if low_budget is None else low_budget,
                     "inner_optimiser": _optim_text(m.cfg.inner_optim),
                     "sample_temperature": m.cfg.algo.sample_temperature} for m in methods],
        "pairs": pairs, "low_data_row_pairs": row_pairs, "budgets": budgets, "classification_budgets": class_budgets,
        "held_out_classes": [names[c] for c in test_classes], "classes_measured": ev.classes,
        "episodes_per_class": ev.episodes,
        "samples_per_episode": ev.samples,
        "low_data": {"ks": P.low_data_ks(ctx, test_classes, ev.low_data.ks), "generated": ev.low_data.generated,
                     "classifier_seeds": ev.low_data.seeds, "augment_generated": ev.low_data.augment_generated,
                     "mix_augmented": ev.low_data.mix_augmented},
        "statistics": {"interval": "95%, Student's t quantile for the real n (t(n-1))",
                       "paired": "per seed: paired t-test over shared units; over seeds: one-sample t-test "
                                 "of the seeds' mean differences; Holm-adjusted within each family",
                       "alpha": summary.ALPHA},
        "evaluator": evaluator.describe(),
        "reference_classifier": reference.describe() if reference else None,
        "versions": _versions(), "time_s": round(time.perf_counter() - t0, 1)}
    result = {"records": [{"shots": shots, **r} for recs in per_run for r in recs], "metadata": metadata}
    compare_report.write_all(out_dir, result, grids, {c: names[c] for c in test_classes})
    return result
