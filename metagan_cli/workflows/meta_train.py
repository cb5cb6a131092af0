"""The meta-training loop: one jitted meta-step over a plain state pytree, with
logging, sample grids and checkpoints around it.  Rerunning into the same run dir
resumes from its last checkpoint."""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
from jax.sharding import SingleDeviceSharding

from metagan_cli.config import MetaLearnConfig, to_dict
from metagan_cli.core.algorithms import algorithm, make_meta_step
from metagan_cli.core.gan import Gan
from metagan_cli.core.meta_state import init_meta_state
from metagan_cli.data.tasks import check_enough_images, load_task, to_class_images
from metagan_cli.cluster.devices import device_layout, meta_batch_mesh
from metagan_cli.cluster.distributed import any_process, is_main_process, local_copy, to_host
from metagan_cli.cluster.preemption import PreemptionWatch
from metagan_cli.cluster.run_lock import RunDirLock
from metagan_cli.core.task_parallel import replicated
from metagan_cli.errors import TrainingDiverged, UserError, WriteFailed
from metagan_cli.runs.checkpoints import DAMAGED_DIR, WRITE_ERRNOS, Checkpoints
from metagan_cli.runs.metrics_log import MetricsLog
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


def meta_train(cfg: MetaLearnConfig, run_dir: str | Path, shard_tasks: bool = True,
               when_locked: Callable[[], None] | None = None) -> dict:
    """Meta-trains into ``run_dir``; returns the last logged metrics.  With several
    devices (or hosts) the meta-batch is sharded over all of them.  ``when_locked`` runs
    on the main process once it holds the run dir (the command's config copies)."""
    run_dir = Path(run_dir)
    main = is_main_process()
    with RunDirLock(run_dir) if main else contextlib.nullcontext():
        try:
            if main and when_locked is not None:
                when_locked()
            return _meta_train(cfg, run_dir, shard_tasks, main)
        except OSError as error:           # metrics, grids, run.json (checkpoints: Checkpoints.save)
            if error.errno not in WRITE_ERRNOS:
                raise
            raise WriteFailed(f"could not write {error.filename or 'into ' + str(run_dir)} ({error.strerror}); "
                              f"the checkpoints saved before are intact. Free space or fix the "
                              f"permissions, then rerun the same command to resume") from None


def _meta_train(cfg: MetaLearnConfig, run_dir: Path, shard_tasks: bool, main: bool) -> dict:
    gan = Gan.of(cfg)
    data = load_task(cfg)
    cfg = dataclasses.replace(cfg, task=data.resolved(cfg.task))   # saved with its class lists
    record = algorithm(cfg)
    needed = record.images_per_task(cfg)
    check_enough_images(data, data.train_classes, needed,
                        f"shots + algo.queries = {cfg.shots} + {cfg.algo.queries}"
                        if record.needs_queries else f"shots={cfg.shots}")
    if record.second_order and cfg.gan_loss.kind == "wgan_gp" and cfg.algo.inner_steps:
        log.warning("second-order MAML through WGAN-GP differentiates the gradient penalty "
                    "twice more (third-order derivatives): expect several times the time and "
                    "memory of a first-order algorithm (algo=fomaml or algo=reptile)")
    mesh = meta_batch_mesh(cfg, shard_tasks)
    local_data = to_class_images(data)      # on this process's default device: sample grids
    classes = jnp.asarray(data.train_classes, jnp.int32)
    log.info("meta-training on %d classes; %d for validation, %d held out", len(data.train_classes),
             len(data.validation_classes), len(data.test_classes))

    _check_resumable(run_dir, cfg)
    checkpoints = Checkpoints(run_dir, keep=cfg.train.keep_checkpoints)
    start = _resume_step(checkpoints, cfg, gan, run_dir, main)
    if not record.trains:
        state = init_meta_state(cfg, gan)
        if main:
            write_run_info(run_dir, "meta-train", cfg, class_names=data.class_names)
        return _save_initialisation(run_dir, cfg, gan, state, local_data, data, checkpoints, main)

    # every device holds the state and the class images whole; committed to their devices
    # even without a mesh, so that the meta-step compiled from their shapes is the one called
    placement = replicated(mesh) if mesh is not None else SingleDeviceSharding(jax.local_devices()[0])
    step_fn = jitted_meta_step(cfg, gan, mesh)
    progress = Progress(cfg.train.steps, start, desc="meta-train", unit="meta-step",
                        log_every=cfg.train.log_every, enabled=main)
    metrics_log = None
    t_start = time.perf_counter()
    try:
        # the meta-step compiles from shapes while this thread initialises, restores and
        # compiles the sample grid's programs
        steps_left = start < cfg.train.steps     # a finished run returns without compiling
        with (progress.waiting("compiling the meta-step") if steps_left else contextlib.nullcontext()):
            with (compiling_in_background(step_fn, _shapes_of(cfg, gan, local_data, classes, placement))
                  if steps_left else contextlib.nullcontext()):
                state = init_meta_state(cfg, gan)
                state, device_data, classes = jax.device_put((state, local_data, classes), placement)
                if start:
                    state = checkpoints.restore(state)
                    log.info("resuming from the checkpoint at step %d", start)
                if main:
                    write_run_info(run_dir, "meta-train", cfg, class_names=data.class_names,
                                   device_layout=device_layout(cfg, mesh))
                grid = (TrainingGrid(cfg, gan, local_data, data.validation_classes, data.class_names)
                        if main else None)
                if grid is not None and steps_left:
                    grid.compile(local_copy(state["params"]))
        if steps_left:
            log.info("compiled the meta-step in %.1f s", time.perf_counter() - t_start)
        metrics_log = MetricsLog(run_dir, resume_step=start) if main else None
        outputs = _Outputs(run_dir, main, grid, progress, metrics_log, checkpoints)
        return _train(cfg, step_fn, state, device_data, classes, start, outputs)
    finally:
        progress.close()
        if metrics_log is not None:
            metrics_log.close()
        checkpoints.close()


def _resume_step(checkpoints: Checkpoints, cfg: MetaLearnConfig, gan: Gan, run_dir: Path, main: bool) -> int:
    """The newest checkpoint that restores (0 for none); damaged newer ones are named
    and set aside.  The check reads that checkpoint once more than resuming needs (a few
    MB): the state it resumes into is placed on the mesh later, beside the compilation."""
    if checkpoints.latest_step() is None:
        return 0
    step, damaged = checkpoints.newest_intact(jax.eval_shape(lambda: init_meta_state(cfg, gan)), set_aside=main)
    for error in damaged:
        log.warning("skipping a damaged checkpoint (moved to %s): %s", run_dir / DAMAGED_DIR, error)
    if step is None:
        raise UserError(f"no checkpoint of {run_dir} restores (all moved to {run_dir / DAMAGED_DIR}); "
                        f"rerun to start afresh, or restore a copy of the checkpoints")
    return step


@dataclasses.dataclass
class _Outputs:
    """Where the loop writes: checkpoints from every process (orbax coordinates them),
    the rest only from the main process (``grid`` and ``metrics_log`` are None elsewhere)."""
    run_dir: Path
    main: bool
    grid: TrainingGrid | None
    progress: Progress
    metrics_log: MetricsLog | None
    checkpoints: Checkpoints


def _train(cfg, step_fn, state, device_data, classes, start: int, out: _Outputs) -> dict:
    """The loop from ``start``; returns the last logged metrics."""
    # GAN steps per meta-step (without a task axis, each step sees meta_batch times more images)
    inner_per_step = cfg.algo.inner_steps * algorithm(cfg).tasks_per_step(cfg)
    t_start = time.perf_counter()
    window_start, window_t = start, None
    record = {}
    with PreemptionWatch() as preemption:
        for step in range(start + 1, cfg.train.steps + 1):
            state, metrics, finite = step_fn(state, device_data, classes)
            _stop_if_diverged(finite, step, out.checkpoints)
            if window_t is None:               # keep the first step out of the rates
                window_start, window_t = step, time.perf_counter()
                out.progress.restart_clock()
            shown = {}
            last = step == cfg.train.steps
            if step % cfg.train.log_every == 0 or last:
                metrics = {k: float(v) for k, v in to_host(metrics).items()}
                now = time.perf_counter()
                rate = inner_per_step * (step - window_start) / max(now - window_t, 1e-9)
                record = {"step": step, "time_s": round(now - t_start, 3), **metrics,
                          "inner_steps_per_s": round(rate, 2) if step > window_start else None}
                if out.main:
                    out.metrics_log.write(record)
                window_start, window_t = step, now
                shown = {"d_loss": metrics["d_loss"], "g_loss": metrics["g_loss"]}
            writes = False
            if out.main and (step % cfg.train.sample_every == 0 or last):
                picture = out.grid.save(out.run_dir / "samples" / f"step_{step:06d}.png",
                                    local_copy(state["params"]))
                out.metrics_log.image("samples", picture, step)
                writes = True
            stopping = any_process(preemption.requested)
            if step % cfg.train.checkpoint_every == 0 or last or stopping:
                out.checkpoints.save(step, state)
                writes = True
            if writes:             # keep grids and checkpoints out of the measured rate
                window_start, window_t = step, time.perf_counter()
            out.progress.update(1, **shown)
            if stopping:
                preemption.leave(step)     # exits; the caller's finally closes what is open
    return record


def jitted_meta_step(cfg: MetaLearnConfig, gan: Gan, mesh=None):
    """The function meta-train runs each meta-step (scripts/bench.py times it too):
    ``(state, data, classes) -> (state, metrics, finite)``."""
    donate = (0,) if jax.default_backend() != "cpu" else ()   # CPU cannot donate buffers
    return jax.jit(_with_finite_check(make_meta_step(cfg, gan, mesh)), donate_argnums=donate)


def _shapes_of(cfg: MetaLearnConfig, gan: Gan, data, classes, placement):
    """The meta-step's arguments as shapes, before any of them is computed."""
    state = jax.eval_shape(lambda: init_meta_state(cfg, gan))
    return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=placement),
                                  (state, data, classes))


@contextlib.contextmanager
def compiling_in_background(step_fn, args: tuple):
    """Compiles the jitted ``step_fn`` for ``args`` (arrays or ``ShapeDtypeStruct``s) on a
    second thread while the body runs, and waits for it at the end; the first call then
    runs at once.  XLA compiles without holding the GIL, so on two or more cores the
    body's own work (initialising, the sample grid's programs) overlaps it."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="compile") as pool:
        compiled = pool.submit(lambda: step_fn.lower(*args).compile())
        yield
        compiled.result()              # an error in it reaches the caller


def _with_finite_check(step):
    """Adds a third output: are the new losses and parameters all finite?"""
    def checked(state, data, classes):
        new_state, metrics = step(state, data, classes)
        finite = jnp.stack([
            jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in metrics.values()])),
            jnp.all(jnp.stack([jnp.all(jnp.isfinite(p))
                               for p in jax.tree_util.tree_leaves(new_state["params"])]))])
        return new_state, metrics, finite
    return checked


def _stop_if_diverged(finite, step: int, checkpoints: Checkpoints) -> None:
    losses_ok, params_ok = (bool(v) for v in to_host(finite))
    if losses_ok and params_ok:
        return
    what = "the losses" if not losses_ok else "the parameters"
    good = checkpoints.latest_step()
    kept = f"the last good checkpoint, step {good}, is kept" if good else "no checkpoint was saved"
    raise TrainingDiverged(f"meta-step {step} produced NaN or inf in {what}; stopped without "
                           f"saving it ({kept}); try a lower inner_optim.lr or outer_optim.lr")


def _save_initialisation(run_dir, cfg, gan, state, device_data, data, checkpoints, main) -> dict:
    """An algorithm without a meta-step (algo=scratch): the run holds the random
    initialisation, so that adapt, sample and eval treat "no meta-learning" exactly like
    any meta-learned initialisation."""
    log.info("algo=%s: saving the random initialisation (no meta-training)", cfg.algo.name)
    try:
        if main:
            grid = TrainingGrid(cfg, gan, device_data, data.validation_classes, data.class_names)
            grid.save(run_dir / "samples" / "step_000000.png", local_copy(state["params"]))
        checkpoints.save(0, state)
    finally:
        checkpoints.close()
    return {"step": 0}
