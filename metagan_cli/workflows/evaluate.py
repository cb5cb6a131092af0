"""`metagan eval`: does the meta-learned GAN beat the baselines on unseen classes?

One run dir, several (one per meta-training seed) or a multirun sweep dir.  The data,
the evaluator network (trained on meta-train classes only) and every support set are
shared by all runs; each run is measured against its own baselines (copy the shots,
scratch, pretrain + fine-tune at the run's checkpoint budget; the baselines' fine-tuning
settings chosen once on validation classes).  The measurements are in
``evaluation.protocol``, the statistics in ``evaluation.summary``, the outputs in
``evaluation.report``.
"""
from __future__ import annotations

import dataclasses
import logging
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from metagan_cli import __version__
from metagan_cli.config import ConfigError, EvalConfig, MetaLearnConfig, eval_config, to_dict
from metagan_cli.core.algorithms import algorithm
from metagan_cli.core.algorithms.dagan import DAGAN as DAGAN_ALGORITHM
from metagan_cli.core.algorithms.pretrain import PRETRAIN as PRETRAIN_ALGORITHM
from metagan_cli.core.algorithms.scratch import SCRATCH as SCRATCH_ALGORITHM
from metagan_cli.core.gan import Gan
from metagan_cli.core.meta_state import EVAL_STREAM, root_key
from metagan_cli.core.partial_adaptation import Freezing
from metagan_cli.data.cache import cache_dir
from metagan_cli.data.tasks import load_task
from metagan_cli.errors import UserError
from metagan_cli.evaluation import protocol as P
from metagan_cli.evaluation import report, summary, tuning
from metagan_cli.evaluation.methods import (COPY, PRETRAIN, SCRATCH, Trajectory, pretrain_config,
                                              same_architecture, sample_fn, with_full_adaptation,
                                              with_inner_optimiser)
from metagan_cli.evaluation.evaluator import load_or_train
from metagan_cli.runs.progress import Progress
from metagan_cli.runs.run_dir import RUN_FILE, read_run_info
from metagan_cli.workflows.common import check_arguments, load_run, with_sample_temperature

log = logging.getLogger("metagan")
# tasks with few classes and many images each, where a pixel SVM is a fair judge
SOURCES_WITH_REFERENCE = ("sklearn_digits", "tfds:mnist")
OFF = ("off", "none", "false", "")
DAGAN_METHOD = "DAGAN"


@dataclass
class Run:
    run_dir: Path
    cfg: MetaLearnConfig
    params: dict
    step: int

    @property
    def label(self) -> str:
        return f"seed {self.cfg.seed}"


def _checkpoint_step(run_dir) -> int | None:
    from metagan_cli.runs.checkpoints import Checkpoints
    checkpoints = Checkpoints(Path(run_dir), read_only=True)
    try:
        return checkpoints.latest_step()
    finally:
        checkpoints.close()


def run_dirs(checkpoint) -> list[Path]:
    """``checkpoint=`` as run dirs: one run dir, a list of them, or a multirun sweep dir
    (its numbered job dirs that hold a run)."""
    items = list(checkpoint) if isinstance(checkpoint, (list, tuple)) else [checkpoint]
    if not items:
        raise UserError("checkpoint= is empty; give a run dir, a list of run dirs or a sweep dir")
    dirs = []
    for item in items:
        path = Path(str(item)).expanduser()
        jobs = ([d for d in path.iterdir() if d.is_dir() and (d / RUN_FILE).is_file()]
                if path.is_dir() and not (path / RUN_FILE).is_file() else [])
        natural = lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]
        dirs += sorted(jobs, key=natural) if jobs else [path]
    return dirs


def flat_config(cfg: MetaLearnConfig) -> dict:
    """{"task.name": ..., "algo.inner_steps": ..., ...}."""
    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out
    return flat(to_dict(cfg))


def _differences(a: MetaLearnConfig, b: MetaLearnConfig) -> list[str]:
    """Keys in which two runs' configs differ, other than seed= and train.*."""
    fa, fb = flat_config(a), flat_config(b)
    return [k for k in sorted(set(fa) | set(fb))
            if fa.get(k) != fb.get(k) and k != "seed" and not k.startswith("train.")]


# what must agree for two runs' held-out classes and images to be the same
SPLIT_KEYS = ("task.name", "task.source", "task.tfds_name", "task.split", "data.path", "task.train_classes",
              "task.validation_classes", "task.test_classes", "task.image_size", "model.channels")


def split_difference(a: MetaLearnConfig, b: MetaLearnConfig) -> str | None:
    """The first key in which two runs' tasks or splits differ, or None."""
    fa, fb = flat_config(a), flat_config(b)
    return next((k for k in SPLIT_KEYS if fa.get(k) != fb.get(k)), None)


def measured_classes(cfg: MetaLearnConfig, which: str) -> tuple:
    """The classes an eval or compare measures: the run's held-out classes, or with
    ``eval.classes=validation`` its validation classes in their place, to choose a setting
    (temperature=, a budget, a lever) without a look at a held-out class."""
    if which != "validation":
        return tuple(cfg.task.test_classes)
    if not cfg.task.validation_classes:
        raise UserError("eval.classes=validation: the run has no validation classes; meta-train with "
                        "task.validation_classes=[...] or task.validation_fraction above 0")
    return tuple(cfg.task.validation_classes)


def load_runs(checkpoint) -> list[Run]:
    """Every run of a multi-seed eval: meta-train runs of one task and config that
    differ only in seed (and in how long they trained)."""
    runs = []
    for path in run_dirs(checkpoint):
        run_dir, info, cfg, _, params = load_run(path)
        if info["kind"] != "meta-train":
            raise UserError(f"checkpoint={path} is an adapt dir; eval takes meta-train run dirs")
        runs.append(Run(run_dir, cfg, params, _checkpoint_step(run_dir)))
    first = runs[0]
    for run in runs[1:]:
        keys = _differences(first.cfg, run.cfg)
        if keys:
            k = keys[0]
            raise UserError(f"checkpoint: {first.run_dir} and {run.run_dir} differ in {k} "
                            f"({len(keys)} key(s) in all); a multi-seed eval takes runs of one task "
                            f"and config that differ only in seed")
    seeds = [r.cfg.seed for r in runs]
    if len(set(seeds)) != len(seeds):
        dup = next(s for s in seeds if seeds.count(s) > 1)
        raise UserError(f"checkpoint: two runs have seed={dup}; a multi-seed eval takes one run per seed")
    return runs


def _versions() -> dict:
    import flax
    import optax
    import scipy
    import sklearn
    return {"metagan": __version__, "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__, "python": platform.python_version(),
            "backend": jax.default_backend()}


def _optim_text(optim) -> dict:
    return {"name": optim.name, "lr": optim.lr, "b1": optim.b1, "b2": optim.b2}


class _Pretrained:
    """The pretrain baseline's parameters for a run: trained by this eval with the run's
    checkpoint budget, or read from an algo=pretrain run dir, or from a dir of them (a
    sweep dir, or an earlier eval's dir with its pretrain_seed* runs) matched by seed."""

    def __init__(self, choice: str, out_dir: Path, several: bool):
        self.choice, self.out_dir, self.several = choice, out_dir, several
        self._given = {}
        if choice not in OFF + ("train",):
            if not Path(choice).expanduser().is_dir():
                raise UserError(f"eval.baselines.pretrain={choice}: give train, off, or the run dir of an "
                                f"algo=pretrain meta-train run (or a dir of them, one per seed)")

    def for_run(self, run: Run) -> tuple[dict, dict]:
        if self.choice == "train":
            from metagan_cli.workflows.meta_train import meta_train
            base = PRETRAIN_ALGORITHM.name
            name = f"{base}_seed{run.cfg.seed}" if self.several else base
            pcfg = pretrain_config(run.cfg, run.step)
            log.info("training the pretrain baseline with the evaluated checkpoint's budget "
                     "(%d steps x %d GAN steps) into %s", pcfg.train.steps, pcfg.algo.inner_steps,
                     self.out_dir / name)
            meta_train(pcfg, self.out_dir / name)
            _, _, _, _, params = load_run(self.out_dir / name)
            return params, {"source": "trained by this eval", "run_dir": name, "seed": run.cfg.seed,
                            "checkpoint_step": _checkpoint_step(self.out_dir / name),
                            "inner_steps": pcfg.algo.inner_steps, "evaluated_step": run.step}
        path = self._run_dir_for(run)
        if path not in self._given:
            _, info, pcfg, _, params = load_run(path)
            if info["kind"] != "meta-train" or pcfg.algo.name != PRETRAIN_ALGORITHM.name:
                raise UserError(f"eval.baselines.pretrain={path} is not an algo=pretrain run dir "
                                f"(it is {info['kind']} with algo={pcfg.algo.name})")
            if not same_architecture(pcfg, run.cfg):
                raise UserError(f"eval.baselines.pretrain={path} has a different model, GAN loss or "
                                f"augmentation than the evaluated run; train it with the same ones")
            if pcfg.task.train_classes != run.cfg.task.train_classes:
                raise UserError(f"eval.baselines.pretrain={path} was trained on other classes "
                                f"than the evaluated run")
            self._given[path] = ({"g": params["g"], "d": params["d"]},
                                 {"source": "checkpoint", "run_dir": str(path), "seed": pcfg.seed,
                                  "checkpoint_step": _checkpoint_step(path),
                                  "inner_steps": pcfg.algo.inner_steps})
        params, info = self._given[path]
        if info["checkpoint_step"] != run.step:
            log.warning("the pretrain baseline %s stopped at step %s, the evaluated run at %s: "
                        "their training budgets differ", path, info["checkpoint_step"], run.step)
        return params, {**info, "evaluated_step": run.step}

    def _run_dir_for(self, run: Run) -> Path:
        return run_dir_for_seed(self.choice, "eval.baselines.pretrain", PRETRAIN_ALGORITHM.name, run)


def run_dir_for_seed(choice: str, key: str, algo: str, run: Run) -> Path:
    """``key=choice``: a run dir, or among a dir of runs the one with ``run``'s seed."""
    given = Path(choice).expanduser()
    if (given / RUN_FILE).is_file():
        return given
    candidates = run_dirs(given) if given.is_dir() else [given]
    if candidates == [given]:
        raise UserError(f"{key}={choice} holds no run dir; give an algo={algo} run dir or a dir of "
                        f"them (one per seed)")
    for path in candidates:
        if read_run_info(path)[2].seed == run.cfg.seed:
            return path
    raise UserError(f"{key}={choice} has no run with seed={run.cfg.seed}; give a dir with one "
                    f"algo={algo} run per evaluated seed")


class _DaganBaseline:
    """``eval.baselines.dagan``: an algo=dagan run (or a dir of them matched by seed) of
    the evaluated run's task and split, as one more method.  It has its own architecture,
    so its own sampler and trajectory (its run's inner loop: at budget 0 it generates
    from the shots as it is, beyond it is fine-tuned on them)."""

    KEY = "eval.baselines.dagan"

    def __init__(self, choice: str, samples: int, chunk: int):
        self.choice, self.samples, self.chunk = choice, samples, chunk
        self._loaded, self._compiled = {}, {}
        if choice not in OFF and not Path(choice).expanduser().exists():
            raise UserError(f"{self.KEY}={choice} does not exist; give the run dir of an algo=dagan "
                            f"meta-train run (or a dir of them, one per seed), or off")

    @property
    def on(self) -> bool:
        return self.choice not in OFF

    def method(self, run: Run) -> tuple[P.Method, dict]:
        path = run_dir_for_seed(self.choice, self.KEY, DAGAN_ALGORITHM.name, run)
        if path not in self._loaded:
            _, info, dcfg, gan, params = load_run(path)
            if info["kind"] != "meta-train" or dcfg.algo.name != DAGAN_ALGORITHM.name:
                raise UserError(f"{self.KEY}={path} is not an algo=dagan run dir "
                                f"(it is {info['kind']} with algo={dcfg.algo.name})")
            differ = split_difference(run.cfg, dcfg)
            if differ:
                raise UserError(f"{self.KEY}={path} is a run of another task or split than the evaluated "
                                f"run ({differ} differs); train it with the same task=")
            family = to_dict(dcfg)
            key = repr({k: family[k] for k in ("model", "gan_loss", "augment", "inner_optim", "algo")})
            if key not in self._compiled:
                self._compiled[key] = (Trajectory(dcfg, gan, self.chunk), sample_fn(gan, self.samples))
            trajectory, sample = self._compiled[key]
            self._loaded[path] = (P.Method(DAGAN_METHOD, lambda k, p={"g": params["g"], "d": params["d"]}: p,
                                           trajectory, None, {"optimiser": _optim_text(dcfg.inner_optim),
                                                              "from": "its run's own inner loop"}, sample),
                                  {"run_dir": str(path), "seed": dcfg.seed, "checkpoint_step": _checkpoint_step(path)})
        return self._loaded[path]


def held_out_data(cfg: MetaLearnConfig, shots: int, ev: EvalConfig, measured):
    """The run's task data (its own split, from run.json, not whatever the task config
    resolves to today), checked for enough images per ``measured`` class; the evaluator
    network trained on its meta-train classes; the reference classifier where fair."""
    data = load_task(cfg)
    task = cfg.task
    names = data.class_names
    counts = np.bincount(data.labels, minlength=len(names))
    needed = shots + max(shots, 2)
    short = [c for c in measured if counts[c] < needed]
    if short:
        kind = "validation" if ev.classes == "validation" else "held-out"
        raise UserError(f"{kind} class {names[short[0]]} has {counts[short[0]]} images but eval "
                        f"with shots={shots} needs {needed} (the shots, and at least as many unseen "
                        f"images to compare with); lower shots=")
    evaluator = load_or_train(data.pixels, data.labels, names, tuple(task.train_classes),
                              tuple(task.test_classes), cache_dir(cfg.data.cache_dir), steps=ev.evaluator_steps)
    log.info("evaluator %s (validation accuracy on meta-train classes %.3f)",
             evaluator.evaluator_id, evaluator.validation_accuracy)
    source = task.source if task.source != "tfds" else f"tfds:{task.tfds_name}"
    reference = None
    if source in SOURCES_WITH_REFERENCE:
        from metagan_cli.evaluation.reference_classifier import ReferenceClassifier
        reference = ReferenceClassifier.fit(data.pixels, data.labels, seed=0)
        log.info("reference classifier trained on all classes, for evaluation only "
                 "(accuracy on held-back real images %.3f)", reference.test_accuracy)
    return data, evaluator, reference


def evaluate(checkpoint, out_dir: str | Path, eval_values: dict | None = None,
             shots: int | None = None, extra_budget: int | None = None, seed: int = 0,
             temperature: float | None = None) -> dict:
    """Runs the protocol and writes eval.json, eval.csv, plots, grids and report.md; the
    evaluated run draws z at ``temperature`` (None: its ``algo.sample_temperature``)."""
    t0 = time.perf_counter()
    try:
        ev = eval_config(eval_values)
    except ConfigError as err:
        raise UserError(str(err)) from None
    pretrained = _Pretrained(ev.baselines.pretrain, Path(out_dir), several=False)
    runs = load_runs(checkpoint)
    pretrained.several = len(runs) > 1
    cfg = runs[0].cfg
    most = max(ev.samples, ev.classification.generated_per_class, ev.low_data.generated, ev.tuning.samples)
    dagan = _DaganBaseline(ev.baselines.dagan, most, ev.chunk)
    shots = cfg.shots if shots is None else shots
    check_arguments(shots=shots, adapt_steps=extra_budget, seed=seed, temperature=temperature)
    budgets = sorted(set(ev.budgets) | ({extra_budget} if extra_budget is not None else set()))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    task = cfg.task
    validation = tuple(task.validation_classes)
    train_classes = tuple(task.train_classes)
    test_classes = measured_classes(cfg, ev.classes)
    data, evaluator, reference = held_out_data(cfg, shots, ev, test_classes)
    temperature = with_sample_temperature(cfg, temperature).algo.sample_temperature
    names = data.class_names
    counts = np.bincount(data.labels, minlength=len(names))

    gan = Gan.of(cfg)
    ctx = P.Context(data.pixels, data.labels, names, evaluator, sample_fn(gan, most),
                    jax.random.fold_in(root_key(seed), EVAL_STREAM), reference)
    evaluated = f"{cfg.algo.name} (evaluated)"
    # each generator as adapt uses it by default: the run's inner steps, DAGAN's 0 steps
    own_budget = {evaluated: algorithm(cfg).default_adapt_steps(cfg), **({DAGAN_METHOD: 0} if dagan.on else {})}
    default_budgets = {cfg.algo.inner_steps, *own_budget.values()}
    class_budgets = list(ev.classification.budgets or sorted(default_budgets))
    low_budget = cfg.algo.inner_steps if ev.low_data.budget is None else ev.low_data.budget
    own_budget = {} if ev.low_data.budget is not None else own_budget
    init_scratch = jax.jit(gan.init)
    with_scratch = ev.baselines.scratch and cfg.algo.name != SCRATCH_ALGORITHM.name
    # algo=dagan is pretrain's step on its pair model: its pretrain baseline would be itself
    with_pretrain = ev.baselines.pretrain not in OFF and cfg.algo.name not in (
        PRETRAIN_ALGORITHM.name, DAGAN_ALGORITHM.name)
    if dagan.on and cfg.algo.name == DAGAN_ALGORITHM.name:
        raise UserError("eval.baselines.dagan: the evaluated run is itself algo=dagan; leave it off")

    # The baselines fine-tune every parameter (eval.baselines.adapt=all): a partial
    # adaptation is the evaluated run's lever, and under it scratch's random layers would stay random.
    baseline_cfg = cfg if ev.baselines.adapt == "run" else with_full_adaptation(cfg)
    # one compiled trajectory per optimiser family and frozen set; the learning rate is an argument
    families = {}

    def trajectory_for(optim, adapting=baseline_cfg) -> Trajectory:
        family = (optim.name, optim.b1, optim.b2, optim.momentum, Freezing.of(adapting.algo))
        if family not in families:
            families[family] = Trajectory(with_inner_optimiser(adapting, optim), gan, ev.chunk)
        return families[family]

    own = trajectory_for(cfg.inner_optim, cfg)
    # the baselines' fine-tuning optimisers, chosen once on validation classes
    chosen_optim, searches = {}, {}

    def baseline_optimiser(name: str, init):
        if name not in chosen_optim:
            make = lambda optim: P.Method(name, init, trajectory_for(optim), optim.lr)
            chosen, table = tuning.choose(ctx, make, ev.tuning, validation, shots, budgets, ev.real_images)
            optim = chosen or cfg.inner_optim
            chosen_optim[name] = optim
            searches[name] = {"chosen": _optim_text(optim), "search": table,
                              "on": [names[c] for c in validation[:ev.tuning.classes]],
                              "note": None if chosen else (
                                  "not tuned: the run has no validation classes" if not validation else
                                  "not tuned: eval.tuning.lrs is empty" if not ev.tuning.lrs else
                                  "not tuned: no budget > 0")}
            log.info("%s fine-tunes with %s", name, searches[name]["chosen"])
        optim = chosen_optim[name]
        return trajectory_for(optim), optim

    # the evaluated run draws at its temperature; the baselines (other GANs) at 1
    evaluated_sample = None if temperature == 1.0 else sample_fn(gan, most, temperature)
    per_run, run_info, grids, chosen_budgets = [], [], {}, {}
    units = len(test_classes) * ev.episodes
    progress = Progress(len(runs) * units, desc="eval", unit="episode", log_every=max(1, units // 4))
    for i, run in enumerate(runs):
        methods = [P.Method(evaluated, lambda key, p=run.params: p, own, None,
                            {"optimiser": _optim_text(cfg.inner_optim), "from": "the run's own inner loop"},
                            budget=own_budget.get(evaluated), sample=evaluated_sample)]
        info = {"run_dir": str(run.run_dir), "seed": run.cfg.seed, "checkpoint_step": run.step,
                "train_steps": run.cfg.train.steps}
        if with_pretrain:
            params, info["pretrain"] = pretrained.for_run(run)
            init = lambda key, p=params: p
            trajectory, optim = baseline_optimiser(PRETRAIN, init)
            methods.append(P.Method(PRETRAIN, init, trajectory, optim.lr, {"optimiser": _optim_text(optim)}))
        if with_scratch:
            # a new initialisation per episode and per run: the baseline's own seed variation
            init = lambda key, s=run.cfg.seed: init_scratch(jax.random.fold_in(
                jax.random.fold_in(key, P.SCRATCH_INIT), s))
            trajectory, optim = baseline_optimiser(SCRATCH, init)
            methods.append(P.Method(SCRATCH, init, trajectory, optim.lr, {"optimiser": _optim_text(optim)}))
        if dagan.on:
            method, info["dagan"] = dagan.method(run)
            methods.append(dataclasses.replace(method, budget=own_budget.get(DAGAN_METHOD)))
        if ev.baselines.copy:
            methods.append(P.Method(COPY))
        log.info("eval of %s (%s, checkpoint at step %s)", run.run_dir, run.label, run.step)
        measured = P.measure_generation(ctx, methods, test_classes, ev.episodes, shots, budgets, ev.samples,
                                        ev.real_images, grid_classes=ev.grid_classes if i == 0 else 0,
                                        grid_samples=ev.grid_samples, on_unit=lambda: progress.update(1))
        grids = grids or measured.grids
        classification = P.measure_classification(ctx, methods, test_classes, ev.classification, shots,
                                                  class_budgets)
        if ev.low_data.choose_budget:
            chosen, info["low_data_budget_search"] = tuning.choose_low_data_budgets(
                ctx, methods, ev.low_data, validation, shots, seed)
            methods = [dataclasses.replace(m, budget=chosen.get(m.name, m.budget)) for m in methods]
            chosen_budgets[run.label] = chosen
            log.info("low-data budgets chosen on validation classes: %s",
                     ", ".join(f"{m} {b}" for m, b in chosen.items()) or "none (fewer than 2 validation classes)")
        low_data = P.measure_low_data(ctx, methods, test_classes, ev.low_data, shots, low_budget, seed,
                                      augmented=[evaluated] if ev.low_data.augment_generated else [],
                                      mixed=[evaluated] if ev.low_data.mix_augmented else [])
        baselines = [m.name for m in methods if m.name != evaluated]
        per_run.append(summary.run_records(run.label, measured, classification, low_data, evaluated,
                                           baselines, names))
        info["methods"] = [m.name for m in methods]
        run_info.append(info)
    progress.close()

    over_seeds = None
    if len(runs) > 1:
        over_seeds = "seeds " + ", ".join(str(r.cfg.seed) for r in runs)
        per_run.append(summary.across_runs(over_seeds, per_run))
    records = [{"shots": shots, **r} for recs in per_run for r in recs]
    elapsed = time.perf_counter() - t0
    first_pretrain = run_info[0].get("pretrain")
    metadata = {
        "checkpoint": [str(r.run_dir) for r in runs] if len(runs) > 1 else str(runs[0].run_dir),
        "task": task.name, "evaluated_algo": cfg.algo.name, "evaluated_method": evaluated,
        "methods": run_info[0]["methods"], "runs": run_info, "over_seeds": over_seeds,
        "run_train_steps": cfg.train.steps, "run_checkpoint_step": runs[0].step,
        "run_inner_steps": cfg.algo.inner_steps,
        "classes_measured": ev.classes,
        "held_out_classes": [names[c] for c in test_classes],
        "validation_classes": [names[c] for c in validation],
        "meta_train_classes": len(train_classes), "seed": seed, "shots": shots, "budgets": budgets,
        "episodes_per_class": ev.episodes, "samples_per_episode": ev.samples,
        "real_images_per_episode_max": ev.real_images,
        "real_images_per_class_min": int(min(counts[c] for c in test_classes)) - shots,
        "classification": {"ways_requested": list(ev.classification.ways),
                           "labels": _way_labels(ev, test_classes),
                           "episodes": ev.classification.episodes, "queries_per_class": ev.classification.queries,
                           "generated_per_class": ev.classification.generated_per_class,
                           "budgets": class_budgets,
                           "classifier": "nearest prototype (Euclidean) on evaluator features"},
        "low_data": {"ks": P.low_data_ks(ctx, test_classes, ev.low_data.ks), "generated": ev.low_data.generated,
                     "classifier_seeds": ev.low_data.seeds, "test_images_max": ev.low_data.test_images,
                     "budget": low_budget, "own_budgets": own_budget,
                     "choose_budget": list(ev.low_data.choose_budget), "chosen_budgets": chosen_budgets,
                     "augment_generated": ev.low_data.augment_generated,
                     "mix_augmented": ev.low_data.mix_augmented,
                     "adapted_from": f"the first {shots} of each class's k real images",
                     "classifier": "a small CNN trained from scratch on pixels (fixed recipe), "
                                   "over all held-out classes"},
        "statistics": {"interval": "95%, Student's t quantile for the real n (t(n-1))",
                       "paired": "paired t-test on the differences over shared units; Holm-adjusted "
                                 "p-values within each run's family and within the over-seeds family",
                       "alpha": summary.ALPHA},
        "baseline_tuning": searches,
        "evaluator": evaluator.describe(),
        "reference_classifier": reference.describe() if reference else None,
        "pretrain_baseline": first_pretrain or ({"source": f"the evaluated run is itself algo={cfg.algo.name}"}
                                                if cfg.algo.name in (PRETRAIN_ALGORITHM.name, DAGAN_ALGORITHM.name)
                                                else None),
        "dagan_baseline": run_info[0].get("dagan"),
        "scratch_baseline": ("a fresh random initialisation per episode" if with_scratch else
                             "the evaluated run is itself algo=scratch" if cfg.algo.name == SCRATCH_ALGORITHM.name else None),
        "inner_optimiser": {**_optim_text(cfg.inner_optim), "n_critic": cfg.algo.n_critic},
        "evaluated_sample_temperature": temperature,
        "evaluated_adapts": Freezing.of(cfg.algo).describe(), "baselines_adapt": Freezing.of(baseline_cfg.algo).describe(),
        "versions": _versions(), "time_s": round(elapsed, 1)}
    result = {"records": records, "metadata": metadata}
    report.write_all(out_dir, result, grids, {c: names[c] for c in test_classes})
    return result


def _way_labels(ev: EvalConfig, test_classes) -> dict:
    return {P.way_label(min(w, len(test_classes)), len(test_classes)): min(w, len(test_classes))
            for w in ev.classification.ways}


def print_summary(result: dict, out_dir: Path) -> None:
    """The headline table on stdout: each generation metric per method at the largest
    budget (over seeds when there are several)."""
    meta = result["metadata"]
    budget = max(meta["budgets"])
    run = meta["over_seeds"] or f"seed {meta['runs'][0]['seed']}"
    rows = [r for r in result["records"] if r["kind"] == "value" and r["stage"] == "generation"
            and r["class"] == summary.ALL and r["adapt_steps"] == budget and r["run"] == run]
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    value = {(r["method"], r["metric"]): r for r in rows}
    n = rows[0]["n"] if rows else 0
    print(f"metagan eval: {meta['task']}, {meta['shots']} shots, after {budget} adaptation steps; "
          f"{run} (n = {n}, {rows[0]['over'] if rows else ''})")
    print(f"features: evaluator {meta['evaluator']['id']} trained on meta-train classes only "
          f"(not Inception; comparable only within evaluator version {meta['evaluator']['version']})")
    if meta.get("reference_classifier"):
        print("recognisability_reference: reference classifier trained on all classes, for evaluation only")
    print("  " + "method".ljust(24) + "".join(m[:18].rjust(19) for m in metrics))
    for method in methods:
        cells = []
        for metric in metrics:
            r = value.get((method, metric))
            ci = "" if r is None or r["ci95"] is None else f"±{r['ci95']:.2g}"
            cells.append((f"{r['value']:.3g}{ci}" if r else "-").rjust(19))
        print("  " + method[:24].ljust(24) + "".join(cells))
    print(f"written to {out_dir / 'eval.json'} and {out_dir / 'report.md'} ({meta['time_s']:.0f} s)")
