"""Adapt a meta-learned (or any) checkpoint to K support images of one class."""
from __future__ import annotations

import logging
from pathlib import Path

import jax
import numpy as np

from metagan_cli.core.algorithms import algorithm
from metagan_cli.core.episodes import sample_from_class
from metagan_cli.core.inner_loop import make_adaptation
from metagan_cli.core.meta_state import ADAPT_STREAM, SAMPLE_STREAM, root_key
from metagan_cli.data.imaging import load_image_folder
from metagan_cli.data.tasks import check_enough_images, load_task, to_class_images
from metagan_cli.errors import UserError
from metagan_cli.runs import images
from metagan_cli.runs.checkpoints import Checkpoints
from metagan_cli.runs.run_dir import write_run_info
from metagan_cli.workflows.common import adapted_state_like, check_arguments, load_run, with_sample_temperature

log = logging.getLogger("metagan")
GRID_SAMPLES = 32


def class_support(cfg, cls: int | str, shots: int, seed: int) -> tuple[int, np.ndarray]:
    """``shots`` images of class ``cls`` (an id, or a name such as a folder task's
    ``Greek/character03``) of the run's task, chosen by ``seed``; returns (id, images)."""
    data = load_task(cfg)
    task = cfg.task
    if isinstance(cls, str):
        if cls not in data.class_names:
            raise UserError(f"class={cls} is not a class of task {task.name}")
        cls = data.class_names.index(cls)
    if cls not in task.train_classes + task.validation_classes + task.test_classes:
        raise UserError(f"class={cls} is not a class of task {task.name} "
                        f"(held out: {list(task.test_classes)[:20]})")
    if cls in task.train_classes:
        log.warning("class %s was seen in meta-training; held-out classes are %s",
                    data.class_names[cls], list(task.test_classes)[:20])
    check_enough_images(data, [cls], shots, f"shots={shots}")
    key = jax.random.fold_in(root_key(seed), ADAPT_STREAM)
    return cls, np.asarray(sample_from_class(key, to_class_images(data), cls, shots))


def folder_support(cfg, path: str, shots: int | None) -> np.ndarray:
    """The user's images; drawn dark on light, they are inverted like the training data."""
    support = load_image_folder(path, cfg.model.image_size, cfg.model.channels,
                                min_images=shots or 1, invert="auto")
    return support[:shots] if shots else support


def adapt(checkpoint: str, out_dir: str | Path, cls: int | str | None = None,
          images_dir: str | None = None, shots: int | None = None,
          steps: int | None = None, seed: int = 0, temperature: float | None = None) -> dict:
    """Adapts into ``out_dir``; returns a summary (also written to run.json).  The grid's
    z, and later ``metagan sample`` of the adapt dir, at ``temperature`` (None: the run's
    ``algo.sample_temperature``)."""
    if (cls is None) == (images_dir is None):
        raise UserError("give exactly one of class=N (a class of the task) or images=DIR")
    check_arguments(shots=shots, adapt_steps=steps, seed=seed, temperature=temperature)
    source_dir, info, cfg, gan, params = load_run(checkpoint)
    cfg = with_sample_temperature(cfg, temperature)
    steps = algorithm(cfg).default_adapt_steps(cfg) if steps is None else steps
    if cls is not None:
        cls, support = class_support(cfg, cls, shots or cfg.shots, seed)
    else:
        support = folder_support(cfg, images_dir, shots)
    log.info("adapting %s to %d support images for %d steps", source_dir, len(support), steps)

    adapt_fn = jax.jit(make_adaptation(gan, cfg, steps))
    key = jax.random.fold_in(root_key(seed), ADAPT_STREAM)
    adapted, losses = adapt_fn(params, support, jax.random.fold_in(key, 1))

    out_dir = Path(out_dir)
    Checkpoints(out_dir).save(steps, adapted_state_like(adapted, support if gan.conditioned else None))
    z = gan.latents(jax.random.fold_in(root_key(seed), SAMPLE_STREAM), GRID_SAMPLES, cfg.algo.sample_temperature)
    before, after = gan.generate(params["g"], z, support), gan.generate(adapted["g"], z, support)
    images.save_labelled_rows(out_dir / "adapt_grid.png", [
        (f"support ({len(support)} shots)", support),
        ("before adaptation", before),
        (f"after {steps} adaptation steps", after)], columns=16)
    summary = {"source": str(checkpoint),
               "class": cls, "images": images_dir,
               "shots": int(len(support)), "adapt_steps": steps, "seed": seed,
               "sample_temperature": cfg.algo.sample_temperature,
               "final_d_loss": float(losses[-1, 0]) if steps else None,
               "final_g_loss": float(losses[-1, 1]) if steps else None}
    write_run_info(out_dir, "adapted", cfg, adaptation=summary)
    return summary
