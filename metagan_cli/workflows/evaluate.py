"""First evaluation protocol: recognisability of adapted samples on held-out classes.

For every held-out class and episode, the same K support shots adapt (a) the
meta-learned initialisation and (b) a freshly initialised GAN, for the same number of
steps with the same inner optimiser; N samples of each are then classified by the
reference classifier.  Recognisability = the fraction assigned to the target class.
"""
from __future__ import annotations

import logging
import platform
from pathlib import Path

import jax
import numpy as np

from metagan_cli import __version__
from metagan_cli.core.episodes import sample_from_class
from metagan_cli.core.inner_loop import make_inner_loop
from metagan_cli.core.meta_state import EVAL_STREAM, root_key
from metagan_cli.data.tasks import check_enough_images, load_task, to_class_images
from metagan_cli.errors import UserError
from metagan_cli.evaluation.reference_classifier import ReferenceClassifier
from metagan_cli.runs import images
from metagan_cli.runs.progress import Progress
from metagan_cli.runs.run_dir import write_json_atomic
from metagan_cli.workflows.common import load_run

log = logging.getLogger("metagan")
# tasks with few classes and many images each, where a pixel SVM is a fair judge
SOURCES_WITH_REFERENCE = ("sklearn_digits", "tfds:mnist")


def _versions() -> dict:
    import flax
    import optax
    import sklearn
    return {"metagan": __version__, "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "scikit-learn": sklearn.__version__,
            "python": platform.python_version(), "backend": jax.default_backend()}


def evaluate(checkpoint: str, out_dir: str | Path, shots: int | None = None,
             steps: int | None = None, episodes: int = 5, samples: int = 100,
             seed: int = 0) -> dict:
    """Writes eval.json, recognisability.png and per-class sample grids to ``out_dir``."""
    if episodes < 1 or samples < 1:
        raise UserError("eval.episodes and eval.samples must be >= 1")
    run_dir, info, cfg, gan, meta_params = load_run(checkpoint)
    if info["kind"] != "meta-train":
        raise UserError(f"checkpoint={checkpoint} is an adapt dir; eval takes a meta-train run dir")
    source = cfg.task.source if cfg.task.source != "tfds" else f"tfds:{cfg.task.tfds_name}"
    if source not in SOURCES_WITH_REFERENCE:
        raise UserError(f"eval has no reference classifier for task {cfg.task.name} yet "
                        f"(it has one for fewshot_digits and fewshot_mnist)")
    shots = cfg.shots if shots is None else shots
    steps = cfg.algo.inner_steps if steps is None else steps
    if shots < 1 or steps < 0:
        raise UserError(f"shots must be >= 1 and adapt.steps >= 0 (got {shots}, {steps})")
    data = load_task(cfg)
    check_enough_images(data, cfg.task.test_classes, shots, f"shots={shots}")
    classifier = ReferenceClassifier.fit(data.pixels, data.labels, seed=seed)
    log.info("recognisability is judged by a %s (held-out accuracy %.3f)",
             "reference classifier trained on all classes for evaluation only",
             classifier.test_accuracy)

    device_data = to_class_images(data)
    adapt_fn = jax.jit(make_inner_loop(gan, cfg.algo, cfg.inner_optim, cfg.loop, steps))
    sample_fn = jax.jit(lambda g, k: gan.sample(g, k, samples))
    init_fn = jax.jit(gan.init)
    methods = {cfg.algo.name: lambda key: meta_params, "random-init": init_fn}

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = {m: {c: [] for c in cfg.task.test_classes} for m in methods}
    progress = Progress(len(cfg.task.test_classes) * episodes, desc="eval", unit="episode",
                        log_every=max(1, episodes))
    for cls in cfg.task.test_classes:
        grid_rows = []
        for episode in range(episodes):
            key = jax.random.fold_in(jax.random.fold_in(root_key(seed), EVAL_STREAM), 1000 * cls + episode)
            support_key, init_key, adapt_key, sample_key = jax.random.split(key, 4)
            support = sample_from_class(support_key, device_data, cls, shots)
            if episode == 0:
                grid_rows.append((f"class {cls}: {shots} support shots", np.asarray(support)))
            for method, start in methods.items():
                adapted, _ = adapt_fn(start(init_key), support, adapt_key)
                generated = np.asarray(sample_fn(adapted["g"], sample_key))
                hit = float(np.mean(classifier.predict(generated) == cls))
                scores[method][cls].append(hit)
                if episode == 0:
                    grid_rows.append((f"{method} after {steps} steps", generated[:16]))
            progress.update(1)
        images.save_labelled_rows(out_dir / f"samples_class_{cls}.png", grid_rows, columns=16)
    progress.close()

    records = []
    for method, per_class in scores.items():
        for cls, values in per_class.items():
            records.append({"method": method, "class": cls, "shots": shots, "adapt_steps": steps,
                            "metric": "recognisability", "value": round(float(np.mean(values)), 4),
                            "std_over_episodes": round(float(np.std(values)), 4)})
        pooled = [v for values in per_class.values() for v in values]
        records.append({"method": method, "class": "all held-out", "shots": shots,
                        "adapt_steps": steps, "metric": "recognisability",
                        "value": round(float(np.mean(pooled)), 4),
                        "std_over_episodes": round(float(np.std(pooled)), 4)})
    result = {"records": records, "metadata": {
        "checkpoint": str(checkpoint), "task": cfg.task.name,
        "held_out_classes": list(cfg.task.test_classes), "seed": seed,
        "episodes_per_class": episodes, "samples_per_episode": samples,
        "classifier": classifier.describe(), "versions": _versions()}}
    write_json_atomic(out_dir / "eval.json", result)
    _plot(out_dir / "recognisability.png", records, cfg.task.test_classes, shots, steps)
    return result


def print_summary(result: dict, out_dir: Path) -> None:
    """A short table on stdout: recognisability per method and held-out class."""
    meta = result["metadata"]
    rows = [r for r in result["records"] if r["metric"] == "recognisability"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    classes = list(dict.fromkeys(str(r["class"]) for r in rows))
    value = {(r["method"], str(r["class"])): r["value"] for r in rows}
    shots, steps = rows[0]["shots"], rows[0]["adapt_steps"]
    print(f"recognisability after {shots}-shot adaptation for {steps} steps "
          f"({meta['episodes_per_class']} episodes x {meta['samples_per_episode']} samples per class)")
    print(f"judged by a {meta['classifier']['description']} "
          f"(its accuracy on held-out real images: {meta['classifier']['held_out_accuracy']:.3f})")
    print("  " + "method".ljust(14) + "".join(c.rjust(14) for c in classes))
    for method in methods:
        print("  " + method.ljust(14) + "".join(f"{value[(method, c)]:14.3f}" for c in classes))
    print(f"written to {out_dir / 'eval.json'}")


def _plot(path: Path, records: list, classes, shots: int, steps: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(r["method"] for r in records))
    labels = [str(c) for c in classes] + ["all held-out"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        by_class = {str(r["class"]): r for r in records if r["method"] == method}
        values = [by_class[label]["value"] for label in labels]
        errors = [by_class[label]["std_over_episodes"] for label in labels]
        ax.bar(np.arange(len(labels)) + i * width, values, width, yerr=errors, label=method, capsize=3)
    ax.set_xticks(np.arange(len(labels)) + width * (len(methods) - 1) / 2, labels)
    ax.set_ylim(0, 1)
    ax.set_xlabel("held-out class")
    ax.set_ylabel("recognisability")
    ax.set_title(f"{shots}-shot adaptation, {steps} steps (reference classifier)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
