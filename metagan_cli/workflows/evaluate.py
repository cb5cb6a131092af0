"""`metagan eval`: does the meta-learned GAN beat the baselines on unseen classes?

For every held-out class and episode, K support shots are drawn; each method (the
evaluated checkpoint, copy-the-shots, scratch, pretrain + fine-tune) adapts to them
once along one trajectory and is read off at every adaptation budget; S samples per
method and budget are embedded by the evaluator network (trained on meta-train
classes only) and compared with the class's real images that were not in the support
set.  Downstream, N-way K-shot episodes among the held-out classes are classified by
nearest prototype with and without M generated images per class.  Every random draw
comes from ``fold_in`` of one root key (``EVAL_STREAM``), so the same command and seed
give the same numbers.
"""
from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import jax
import numpy as np

from metagan_cli import __version__
from metagan_cli.config import from_dict
from metagan_cli.core.meta_state import EVAL_STREAM, root_key
from metagan_cli.data.cache import cache_dir
from metagan_cli.data.imaging import to_model_input
from metagan_cli.data.tasks import load_task
from metagan_cli.errors import UserError
from metagan_cli.evaluation import metrics as M
from metagan_cli.evaluation import report
from metagan_cli.evaluation.baselines import (COPY, PRETRAIN, SCRATCH, Trajectory, copy_shots,
                                              pretrain_config, same_architecture, sample_fn)
from metagan_cli.evaluation.evaluator import load_or_train
from metagan_cli.runs.progress import Progress
from metagan_cli.workflows.common import load_run

log = logging.getLogger("metagan")
# tasks with few classes and many images each, where a pixel SVM is a fair judge
SOURCES_WITH_REFERENCE = ("sklearn_digits", "tfds:mnist")
REAL_ONLY = "real shots only"
# fold_in tags inside EVAL_STREAM
_EPISODE, _SCRATCH_INIT, _PROTOTYPES, _DOWNSTREAM, _REFERENCE = range(5)


@dataclass(frozen=True)
class BaselinesConfig:
    copy: bool = True                 # copy the shots
    scratch: bool = True              # a fresh GAN trained on the shots
    pretrain: str = "train"           # train | off | RUN_DIR of an algo=pretrain run


@dataclass(frozen=True)
class EvalConfig:
    budgets: tuple[int, ...] = (0, 1, 5, 10, 50, 100)
    episodes: int = 2                 # support sets per held-out class
    samples: int = 64                 # generated images per episode, method and budget
    real_images: int = 300            # at most this many non-support real images per class and episode
    ways: tuple[int, ...] = (5, 20)
    generated_per_class: int = 20     # M generated images added per class (downstream)
    queries: int = 5                  # query images per class per classification episode
    classification_episodes: int = 300
    grid_classes: int = 3             # classes with side-by-side sample grids
    grid_samples: int = 8             # samples per method and budget in a grid
    chunk: int = 10                   # adaptation steps per compiled chunk
    evaluator_steps: int = 600        # training steps of the evaluator network (part of its identity)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)


def eval_config(values: dict | None) -> EvalConfig:
    from metagan_cli.config import ConfigError
    try:
        cfg = from_dict(EvalConfig, dict(values or {}), prefix="eval.")
    except ConfigError as err:
        raise UserError(str(err)) from None
    positive = {"eval.episodes": cfg.episodes, "eval.samples": cfg.samples,
                "eval.real_images": cfg.real_images, "eval.queries": cfg.queries,
                "eval.classification_episodes": cfg.classification_episodes,
                "eval.chunk": cfg.chunk, "eval.grid_samples": cfg.grid_samples,
                "eval.evaluator_steps": cfg.evaluator_steps}
    for key, value in positive.items():
        if value < 1:
            raise UserError(f"{key} must be >= 1, got {value}")
    if cfg.samples < 2:
        raise UserError("eval.samples must be >= 2 (KID and FID compare sets)")
    if not cfg.budgets or min(cfg.budgets) < 0:
        raise UserError(f"eval.budgets must be a non-empty list of steps >= 0, got {list(cfg.budgets)}")
    if any(w < 2 for w in cfg.ways):
        raise UserError(f"eval.ways must be >= 2, got {list(cfg.ways)}")
    if cfg.generated_per_class < 0 or cfg.grid_classes < 0:
        raise UserError("eval.generated_per_class and eval.grid_classes must be >= 0")
    return cfg


def _np_seed(key) -> list[int]:
    """A numpy seed from a (raw uint32) JAX key, so numpy draws derive from the root key too."""
    return [int(v) for v in np.asarray(key).ravel()]


def _versions() -> dict:
    import flax
    import optax
    import scipy
    import sklearn
    return {"metagan": __version__, "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__, "python": platform.python_version(),
            "backend": jax.default_backend()}


def _checkpoint_step(run_dir) -> int | None:
    from metagan_cli.runs.checkpoints import Checkpoints
    checkpoints = Checkpoints(Path(run_dir), read_only=True)
    try:
        return checkpoints.latest_step()
    finally:
        checkpoints.close()


def _pretrain_params(ev: EvalConfig, cfg, out_dir: Path):
    """(params, description) of the pretrain baseline, or None when it is off."""
    choice = ev.baselines.pretrain
    if choice in ("off", "none", "false", ""):
        return None
    if choice == "train":
        from metagan_cli.workflows.meta_train import meta_train
        where = out_dir / "pretrain"
        pcfg = pretrain_config(cfg)
        log.info("training the pretrain baseline with the evaluated run's budget "
                 "(%d steps x %d GAN steps) into %s", pcfg.train.steps, pcfg.algo.inner_steps, where)
        meta_train(pcfg, where)
        _, _, _, _, params = load_run(where)
        return params, {"source": "trained by this eval", "run_dir": "pretrain",
                        "train_steps": pcfg.train.steps, "checkpoint_step": _checkpoint_step(where),
                        "inner_steps": pcfg.algo.inner_steps}
    if not Path(choice).expanduser().is_dir():
        raise UserError(f"eval.baselines.pretrain={choice}: give train, off, or the run dir of an "
                        f"algo=pretrain meta-train run")
    _, info, pcfg, _, params = load_run(choice)
    if info["kind"] != "meta-train" or pcfg.algo.name != "pretrain":
        raise UserError(f"eval.baselines.pretrain={choice} is not an algo=pretrain run dir "
                        f"(it is {info['kind']} with algo={pcfg.algo.name})")
    if not same_architecture(pcfg, cfg):
        raise UserError(f"eval.baselines.pretrain={choice} has a different model or GAN loss "
                        f"than the evaluated run; train it with the same model and loss")
    if pcfg.task.train_classes != cfg.task.train_classes:
        raise UserError(f"eval.baselines.pretrain={choice} was trained on other classes "
                        f"than the evaluated run")
    return {"g": params["g"], "d": params["d"]}, {
        "source": "checkpoint", "run_dir": str(choice), "train_steps": pcfg.train.steps,
        "checkpoint_step": _checkpoint_step(choice), "inner_steps": pcfg.algo.inner_steps}


def evaluate(checkpoint: str, out_dir: str | Path, eval_values: dict | None = None,
             shots: int | None = None, extra_budget: int | None = None, seed: int = 0) -> dict:
    """Runs the protocol and writes eval.json, eval.csv, plots, grids and report.md."""
    t0 = time.perf_counter()
    ev = eval_config(eval_values)
    run_dir, info, cfg, gan, meta_params = load_run(checkpoint)
    if info["kind"] != "meta-train":
        raise UserError(f"checkpoint={checkpoint} is an adapt dir; eval takes a meta-train run dir")
    choice = ev.baselines.pretrain
    if choice not in ("train", "off", "none", "false", "") and not Path(choice).expanduser().is_dir():
        raise UserError(f"eval.baselines.pretrain={choice}: give train, off, or the run dir of an "
                        f"algo=pretrain meta-train run")
    shots = cfg.shots if shots is None else shots
    if shots < 1:
        raise UserError(f"shots must be >= 1, got {shots}")
    budgets = sorted(set(ev.budgets) | ({extra_budget} if extra_budget is not None else set()))
    if budgets[0] < 0:
        raise UserError(f"adapt.steps must be >= 0, got {extra_budget}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    data = load_task(cfg)
    # the run's own split (run.json), not whatever the task config resolves to today
    train_classes, test_classes = tuple(cfg.task.train_classes), tuple(cfg.task.test_classes)
    names = data.class_names
    counts = np.bincount(data.labels, minlength=len(names))
    needed = shots + max(shots, 2)
    short = [c for c in test_classes if counts[c] < needed]
    if short:
        raise UserError(f"held-out class {names[short[0]]} has {counts[short[0]]} images but eval "
                        f"with shots={shots} needs {needed} (the shots, and at least as many unseen "
                        f"images to compare with); lower shots=")
    evaluator = load_or_train(data.pixels, data.labels, names, train_classes, test_classes,
                              cache_dir(cfg.data.cache_dir), steps=ev.evaluator_steps)
    log.info("evaluator %s (validation accuracy on meta-train classes %.3f)",
             evaluator.evaluator_id, evaluator.validation_accuracy)
    source = cfg.task.source if cfg.task.source != "tfds" else f"tfds:{cfg.task.tfds_name}"
    reference = None
    if source in SOURCES_WITH_REFERENCE:
        from metagan_cli.evaluation.reference_classifier import ReferenceClassifier
        reference = ReferenceClassifier.fit(data.pixels, data.labels, seed=0)
        log.info("reference classifier trained on all classes, for evaluation only "
                 "(accuracy on held-back real images %.3f)", reference.test_accuracy)

    # methods: name -> initial parameters per episode (None = copy the shots)
    evaluated = f"{cfg.algo.name} (evaluated)"
    methods: dict = {evaluated: lambda key: meta_params}
    pretrain_info = None
    if ev.baselines.pretrain not in ("off", "none", "false", "") and cfg.algo.name == "pretrain":
        pretrain_info = {"source": "the evaluated run is itself algo=pretrain"}
    elif cfg.algo.name != "pretrain":
        got = _pretrain_params(ev, cfg, out_dir)
        if got is not None:
            params, pretrain_info = got
            methods[PRETRAIN] = lambda key, p=params: p
    if ev.baselines.scratch and cfg.algo.name != "scratch":
        init = jax.jit(gan.init)
        methods[SCRATCH] = lambda key: init(jax.random.fold_in(key, _SCRATCH_INIT))
    if ev.baselines.copy:
        methods[COPY] = None

    trajectory = Trajectory(cfg, gan, budgets, ev.chunk)
    sample = sample_fn(gan, ev.samples)
    eval_key = jax.random.fold_in(root_key(seed), EVAL_STREAM)

    # prototypes of every held-out class from a fixed subset of its real images
    class_index = {c: np.flatnonzero(data.labels == c) for c in test_classes}
    proto_rng = np.random.default_rng(_np_seed(jax.random.fold_in(eval_key, _PROTOTYPES)))
    prototypes = {}
    for c in test_classes:
        pick = proto_rng.permutation(class_index[c])[:ev.real_images]
        prototypes[c] = evaluator.features(to_model_input(data.pixels[pick])).mean(0)

    per_episode: dict = {}       # (method, class, budget, metric) -> [values over episodes]
    downstream_feats: dict = {}  # (class, episode) -> dict of features
    grids: dict = {}
    progress = Progress(len(test_classes) * ev.episodes, desc="eval", unit="episode", log_every=1)
    proto_matrix = np.stack([prototypes[c] for c in test_classes])
    for ci, c in enumerate(test_classes):
        for e in range(ev.episodes):
            key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(eval_key, _EPISODE), c), e)
            perm_key, init_key, adapt_key, sample_key = jax.random.split(key, 4)
            order = np.random.default_rng(_np_seed(perm_key)).permutation(class_index[c])
            support_px, rest_px = data.pixels[order[:shots]], data.pixels[order[shots:]]
            support = to_model_input(support_px)
            real = to_model_input(rest_px[:ev.real_images])
            unseen_k = real[:shots]
            f_support, f_real = evaluator.features(support), evaluator.features(real)
            f_unseen = f_real[:shots]
            target_protos = proto_matrix.copy()
            target_protos[ci] = f_real.mean(0)      # the target's prototype excludes the shots
            kept = {"support": f_support, "real": f_real, "generated": {}}
            if ci < ev.grid_classes and e == 0:
                grids[c] = {"support": support, "samples": {}}
            for method, start in methods.items():
                if start is None:
                    outputs = [copy_shots(support, ev.samples)] * len(budgets)
                else:
                    g_list = trajectory.run(start(init_key), jax.numpy.asarray(support), adapt_key)
                    outputs = [np.asarray(sample(g, sample_key)) for g in g_list]
                for budget, generated in zip(budgets, outputs):
                    feats = evaluator.features(generated)
                    values = {
                        "kid": M.kid(feats, f_real), "fid": M.fid(feats, f_real),
                        "recognisability": float(np.mean(M.prototype_predict(feats, target_protos) == ci)),
                        "diversity": M.diversity_ratio(feats, f_real),
                        "memorisation": M.memorisation_ratio(feats, f_support, f_unseen)}
                    if reference is not None:
                        values["recognisability_reference"] = float(np.mean(reference.predict(generated) == c))
                    for metric, value in values.items():
                        per_episode.setdefault((method, c, budget, metric), []).append(value)
                    kept["generated"][(method, budget)] = feats[:ev.generated_per_class]
                    if c in grids and e == 0:
                        grids[c]["samples"][(method, budget)] = generated[:ev.grid_samples]
            downstream_feats[(c, e)] = kept
            progress.update(1)
    progress.close()

    records = _records(per_episode, names, shots)
    ways_used = _downstream(records, downstream_feats, ev, test_classes, list(methods), budgets,
                            shots, eval_key)
    elapsed = time.perf_counter() - t0
    metadata = {
        "checkpoint": str(checkpoint), "task": cfg.task.name, "evaluated_algo": cfg.algo.name,
        "evaluated_method": evaluated, "methods": list(methods),
        "run_train_steps": cfg.train.steps, "run_checkpoint_step": _checkpoint_step(run_dir),
        "run_inner_steps": cfg.algo.inner_steps,
        "held_out_classes": [names[c] for c in test_classes],
        "meta_train_classes": len(train_classes), "seed": seed, "shots": shots, "budgets": budgets,
        "episodes_per_class": ev.episodes, "samples_per_episode": ev.samples,
        "real_images_per_episode_max": ev.real_images,
        "real_images_per_class_min": int(min(counts[c] for c in test_classes)) - shots,
        "downstream": {"ways_requested": list(ev.ways), "ways_used": ways_used,
                       "generated_per_class": ev.generated_per_class, "queries_per_class": ev.queries,
                       "classification_episodes": ev.classification_episodes,
                       "classifier": "nearest prototype (Euclidean) on evaluator features"},
        "evaluator": evaluator.describe(),
        "reference_classifier": reference.describe() if reference else None,
        "pretrain_baseline": pretrain_info,
        "scratch_baseline": ("a fresh random initialisation per episode" if SCRATCH in methods else
                             "the evaluated run is itself algo=scratch" if cfg.algo.name == "scratch" else None),
        "inner_optimiser": {"name": cfg.inner_optim.name, "lr": cfg.inner_optim.lr,
                            "n_critic": cfg.algo.n_critic},
        "versions": _versions(), "time_s": round(elapsed, 1)}
    result = {"records": records, "metadata": metadata}
    report.write_all(out_dir, result, grids, {c: names[c] for c in test_classes})
    return result


def _records(per_episode: dict, names, shots: int) -> list[dict]:
    records, pooled = [], {}
    for (method, c, budget, metric), values in per_episode.items():
        mean, ci = M.mean_ci95(values)
        records.append({"method": method, "class": names[c], "shots": shots, "adapt_steps": budget,
                        "metric": metric, "value": round(mean, 6), "ci95": round(ci, 6),
                        "n": len(values), "over": "episodes"})
        pooled.setdefault((method, budget, metric), []).extend(values)
    for (method, budget, metric), values in pooled.items():
        mean, ci = M.mean_ci95(values)
        records.append({"method": method, "class": "all held-out", "shots": shots,
                        "adapt_steps": budget, "metric": metric, "value": round(mean, 6),
                        "ci95": round(ci, 6), "n": len(values), "over": "classes x episodes"})
    return records


def _downstream(records: list, feats: dict, ev: EvalConfig, test_classes, methods, budgets,
                shots: int, eval_key) -> dict:
    """N-way K-shot nearest-prototype accuracy on held-out classes, with the support
    alone and with M generated images per class added; 95% CIs over episodes.  Episode
    i reuses the support sets (and adapted generators) of adaptation episode
    i mod eval.episodes, with its own classes and query images."""
    used = {}
    seed = _np_seed(jax.random.fold_in(eval_key, _DOWNSTREAM))
    for ways in ev.ways:
        n_way = min(ways, len(test_classes))
        used[str(ways)] = n_way
        rng = np.random.default_rng([*seed, ways])
        acc = {REAL_ONLY: []}
        acc.update({(m, b): [] for m in methods for b in budgets})
        for i in range(ev.classification_episodes):
            e = i % ev.episodes
            chosen = rng.choice(len(test_classes), n_way, replace=False)
            queries, labels, supports = [], [], []
            for j, ci in enumerate(chosen):
                kept = feats[(test_classes[ci], e)]
                q = rng.choice(len(kept["real"]), min(ev.queries, len(kept["real"])), replace=False)
                queries.append(kept["real"][q])
                labels += [j] * len(q)
                supports.append(kept)
            queries, labels = np.concatenate(queries), np.asarray(labels)
            protos = np.stack([s["support"].mean(0) for s in supports])
            acc[REAL_ONLY].append(np.mean(M.prototype_predict(queries, protos) == labels))
            if ev.generated_per_class:
                for m in methods:
                    for b in budgets:
                        protos = np.stack([np.concatenate([s["support"], s["generated"][(m, b)]]).mean(0)
                                           for s in supports])
                        acc[(m, b)].append(np.mean(M.prototype_predict(queries, protos) == labels))
        metric = f"accuracy_{ways}way"
        base = {"class": "all held-out", "shots": shots, "metric": metric, "ways": n_way,
                "n": ev.classification_episodes, "over": "classification episodes"}
        for b in budgets:
            mean, ci = M.mean_ci95(acc[REAL_ONLY])
            records.append({**base, "method": REAL_ONLY, "adapt_steps": b, "value": round(mean, 6),
                            "ci95": round(ci, 6), "generated_per_class": 0})
        if ev.generated_per_class:
            for m in methods:
                for b in budgets:
                    mean, ci = M.mean_ci95(acc[(m, b)])
                    records.append({**base, "method": m, "adapt_steps": b, "value": round(mean, 6),
                                    "ci95": round(ci, 6), "generated_per_class": ev.generated_per_class})
    return used


def print_summary(result: dict, out_dir: Path) -> None:
    """The headline table on stdout: each metric over held-out classes per method at
    the largest budget."""
    meta = result["metadata"]
    budget = max(meta["budgets"])
    rows = [r for r in result["records"] if r["class"] == "all held-out" and r["adapt_steps"] == budget]
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    value = {(r["method"], r["metric"]): r for r in rows}
    print(f"metagan eval: {meta['task']}, {meta['shots']} shots, after {budget} adaptation steps, "
          f"{meta['episodes_per_class']} episodes x {meta['samples_per_episode']} samples per held-out class")
    print(f"features: evaluator {meta['evaluator']['id']} trained on meta-train classes only "
          f"(not Inception; comparable only within evaluator version {meta['evaluator']['version']})")
    if meta.get("reference_classifier"):
        print("recognisability_reference: reference classifier trained on all classes, for evaluation only")
    print("  " + "method".ljust(24) + "".join(m[:18].rjust(19) for m in metrics))
    for method in methods:
        cells = []
        for metric in metrics:
            r = value.get((method, metric))
            cells.append((f"{r['value']:.3g}±{r['ci95']:.2g}" if r else "-").rjust(19))
        print("  " + method[:24].ljust(24) + "".join(cells))
    print(f"written to {out_dir / 'eval.json'} and {out_dir / 'report.md'} ({meta['time_s']:.0f} s)")
