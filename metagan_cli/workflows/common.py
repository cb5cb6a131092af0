"""Pieces the workflows share: the JAX runtime, and loading parameters from a run dir."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import jax

from metagan_cli.config import COMMAND_RANGES, ConfigError, MetaLearnConfig, check_ranges
from metagan_cli.core.gan import Gan
from metagan_cli.core.meta_state import init_meta_state, init_params
from metagan_cli.errors import UserError
from metagan_cli.runs.checkpoints import Checkpoints
from metagan_cli.runs.run_dir import read_run_info


def check_arguments(**values) -> None:
    """The command's own numeric arguments (``adapt_steps`` for ``adapt.steps``) against
    COMMAND_RANGES, the ranges the command line is checked with, for callers of the
    workflows from Python too.  None = the run's default, not checked."""
    try:
        check_ranges({k.replace("_", "."): v for k, v in values.items()}, COMMAND_RANGES)
    except ConfigError as err:
        raise UserError(str(err)) from None


def with_sample_temperature(cfg: MetaLearnConfig, temperature: float | None) -> MetaLearnConfig:
    """The run's config with a command's ``temperature=`` as its ``algo.sample_temperature``
    (None: the run's own)."""
    if temperature is None:
        return cfg
    return dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, sample_temperature=temperature))


def enable_compilation_cache() -> None:
    """Persists compiled XLA programs between commands (adapt and eval reuse what
    meta-train compiled).  METAGAN_COMPILATION_CACHE=off disables it; programs that
    compile faster than METAGAN_COMPILATION_CACHE_MIN_SECONDS (default 2) are not kept."""
    where = os.environ.get("METAGAN_COMPILATION_CACHE",
                           str(Path.home() / ".cache" / "metagan" / "xla"))
    if where.lower() in ("off", "0", "none", ""):
        return
    min_seconds = os.environ.get("METAGAN_COMPILATION_CACHE_MIN_SECONDS", "2")
    try:
        min_seconds = float(min_seconds)
    except ValueError:
        raise UserError(f"METAGAN_COMPILATION_CACHE_MIN_SECONDS must be a number of seconds; "
                        f"got '{min_seconds}'") from None
    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_seconds)


def adapted_state_like(params: dict, shots=None) -> dict:
    """The pytree an adapt dir checkpoints: adapted parameters and the step count (and,
    for a conditioned generator, the support images it was adapted to and follows)."""
    params = {"g": params["g"], "d": params["d"]}
    if shots is not None:
        params["shots"] = jax.numpy.asarray(shots, jax.numpy.float32)
    return {"step": jax.numpy.zeros((), jax.numpy.int32), "params": params}


def load_run(path) -> tuple[Path, dict, MetaLearnConfig, Gan, dict]:
    """``checkpoint=PATH`` -> (run dir, run.json, config, gan, parameters {"g", "d"}; an
    adapted conditioned generator's also hold ``"shots"``, its support images)."""
    run_dir, info, cfg = read_run_info(path)
    gan = Gan.of(cfg)
    checkpoints = Checkpoints(run_dir, read_only=True)
    if checkpoints.latest_step() is None:
        raise UserError(f"checkpoint={path} has no finished checkpoint; let meta-train save one first")
    if info["kind"] == "meta-train":
        like = init_meta_state(cfg, gan)
    else:
        shots = None
        if gan.conditioned:
            size, channels = cfg.model.image_size, cfg.model.channels
            shots = jax.numpy.zeros((info["adaptation"]["shots"], size, size, channels))
        like = adapted_state_like(init_params(cfg, gan), shots)
    state = checkpoints.restore(like)
    checkpoints.close()
    return run_dir, info, cfg, gan, state["params"]
