"""The meta-training loop: one jitted meta-step over a plain state pytree, with
logging, sample grids and checkpoints around it.  Rerunning into the same run dir
resumes from its last checkpoint."""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from metagan_cli.config import MetaLearnConfig, to_dict
from metagan_cli.core.algorithms import make_meta_step, trains
from metagan_cli.core.gan import Gan
from metagan_cli.core.meta_state import init_meta_state
from metagan_cli.data.tasks import check_enough_images, load_task, to_class_images
from metagan_cli.errors import UserError
from metagan_cli.runs.checkpoints import Checkpoints
from metagan_cli.runs.metrics import MetricsLog
from metagan_cli.runs.progress import Progress
from metagan_cli.runs.run_dir import RUN_FILE, read_run_info, write_run_info
from metagan_cli.workflows.training_grid import TrainingGrid

log = logging.getLogger("metagan")


def _check_resumable(run_dir: Path, cfg: MetaLearnConfig) -> None:
    """A run dir with checkpoints resumes only under the same config (a larger
    train.steps may extend it)."""
    if not (run_dir / RUN_FILE).exists() or not (run_dir / "checkpoints").is_dir():
        return
    _, info, old = read_run_info(run_dir)
    if info["kind"] != "meta-train":
        raise UserError(f"run dir {run_dir} holds an adapted GAN, not a meta-train run; "
                        f"choose another hydra.run.dir=")
    mine, theirs = to_dict(cfg), to_dict(old)
    mine["train"].pop("steps"), theirs["train"].pop("steps")
    if mine != theirs:
        raise UserError(f"run dir {run_dir} holds a run with a different config; "
                        f"choose another hydra.run.dir= or rerun with the same settings")


def meta_train(cfg: MetaLearnConfig, run_dir: str | Path) -> dict:
    """Meta-trains into ``run_dir``; returns the last logged metrics."""
    run_dir = Path(run_dir)
    gan = Gan(cfg.model, cfg.gan_loss)
    data = load_task(cfg)
    cfg = dataclasses.replace(cfg, task=data.resolved(cfg.task))   # saved with its class lists
    if cfg.algo.name in ("maml", "fomaml"):
        check_enough_images(data, data.train_classes, cfg.shots + cfg.algo.queries,
                            f"shots + algo.queries = {cfg.shots} + {cfg.algo.queries}")
    else:
        check_enough_images(data, data.train_classes, cfg.shots, f"shots={cfg.shots}")
    if cfg.algo.name == "maml" and cfg.gan_loss.kind == "wgan_gp" and cfg.algo.inner_steps:
        log.warning("second-order MAML through WGAN-GP differentiates the gradient penalty "
                    "twice more (third-order derivatives): expect several times the time and "
                    "memory of algo=fomaml or algo=reptile, the first-order choices")
    device_data = to_class_images(data)
    classes = jnp.asarray(data.train_classes, jnp.int32)
    log.info("meta-training on %d classes; %d held out", len(data.train_classes), len(data.test_classes))

    _check_resumable(run_dir, cfg)
    checkpoints = Checkpoints(run_dir, keep=cfg.train.keep_checkpoints)
    state = init_meta_state(cfg, gan)
    start = checkpoints.latest_step() or 0
    if start:
        state = checkpoints.restore(state)
        log.info("resuming from the checkpoint at step %d", start)
    write_run_info(run_dir, "meta-train", cfg, class_names=data.class_names)

    if not trains(cfg):
        return _save_initialisation(run_dir, cfg, gan, state, device_data, data, checkpoints)

    donate = (0,) if jax.default_backend() != "cpu" else ()   # CPU cannot donate buffers
    step_fn = jax.jit(make_meta_step(cfg, gan), donate_argnums=donate)
    grid = TrainingGrid(cfg, gan, device_data, data.test_classes, data.class_names)
    # GAN steps per meta-step (pretrain's steps each see meta_batch times more images)
    inner_per_step = cfg.algo.inner_steps * (1 if cfg.algo.name == "pretrain" else cfg.algo.meta_batch)

    metrics_log = MetricsLog(run_dir)
    progress = Progress(cfg.train.steps, start, desc="meta-train", unit="meta-step",
                        log_every=cfg.train.log_every)
    t_start = time.perf_counter()
    window_start, window_t = start, None
    record = {}
    try:
        for step in range(start + 1, cfg.train.steps + 1):
            state, metrics = step_fn(state, device_data, classes)
            if window_t is None:               # the first call compiles: keep it out of rates
                jax.block_until_ready(metrics)
                compile_s = time.perf_counter() - t_start
                log.info("compiled the meta-step in %.1f s", compile_s)
                window_start, window_t = step, time.perf_counter()
                progress.restart_clock()
            shown = {}
            last = step == cfg.train.steps
            if step % cfg.train.log_every == 0 or last:
                metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
                now = time.perf_counter()
                rate = inner_per_step * (step - window_start) / max(now - window_t, 1e-9)
                record = {"step": step, "time_s": round(now - t_start, 3), **metrics,
                          "inner_steps_per_s": round(rate, 2) if step > window_start else None}
                metrics_log.write(record)
                window_start, window_t = step, now
                shown = {"d_loss": metrics["d_loss"], "g_loss": metrics["g_loss"]}
            if step % cfg.train.sample_every == 0 or last:
                picture = grid.save(run_dir / "samples" / f"step_{step:06d}.png", state["params"])
                metrics_log.image("samples", picture, step)
            if step % cfg.train.checkpoint_every == 0 or last:
                checkpoints.save(step, state)
            progress.update(1, **shown)
    finally:
        progress.close()
        metrics_log.close()
        checkpoints.close()
    return record


def _save_initialisation(run_dir, cfg, gan, state, device_data, data, checkpoints) -> dict:
    """algo=scratch: the run holds the random initialisation, so that adapt, sample and
    eval treat "no meta-learning" exactly like any meta-learned initialisation."""
    log.info("algo=scratch: saving the random initialisation (no meta-training)")
    grid = TrainingGrid(cfg, gan, device_data, data.test_classes, data.class_names)
    try:
        grid.save(run_dir / "samples" / "step_000000.png", state["params"])
        checkpoints.save(0, state)
    finally:
        checkpoints.close()
    return {"step": 0}
