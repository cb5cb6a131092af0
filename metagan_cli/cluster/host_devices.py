"""One host's CPU cores as several XLA devices, so the tasks of a meta-batch run side by side.

XLA:CPU runs one program at a time per device, and the small matmuls of a few-shot GAN
(batches of 4-16 images) keep two cores only partly busy when split inside each op.
Splitting the host into several CPU devices and sharding the meta-batch over them
(``core.task_parallel``) runs whole tasks in parallel instead: on a 2-core machine
1.25x the reference model's meta-steps per second on one device (docs/BENCHMARKS.md).

This only configures JAX's CPU client and must run before anything touches a JAX
device.  On a GPU/TPU host the CPU devices exist but are not used.
"""
from __future__ import annotations

import logging
import os
import re
from typing import MutableMapping

log = logging.getLogger("metagan")

FORCED_DEVICES_FLAG = "xla_force_host_platform_device_count"
# XLA:CPU aborts the process when one device reaches a collective 40 s after another (its
# default, measured); on a loaded machine a starved device thread can be that late, and
# the run would die between checkpoints.  Devices here do the same work, so a long wait is
# load, not a hang: warn after 2 minutes, give up after 10.  Older jaxlibs lack the flags
# (and die on unknown ones): they keep XLA's 40 s.
COLLECTIVE_PATIENCE = {"xla_cpu_collective_call_warn_stuck_timeout_seconds": 120,
                       "xla_cpu_collective_call_terminate_timeout_seconds": 600}
PATIENCE_SINCE_JAXLIB = (0, 9)


def available_cores() -> int:
    """Cores this process may run on (its affinity mask: Slurm's and cgroup cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # macOS, Windows
        return os.cpu_count() or 1


def resolve_cpu_devices(setting, tasks: int, cores: int, several_processes: bool) -> int:
    """``distributed.cpu_devices``: an int >= 1 as given; ``auto``: the largest number of
    devices, at most one per core, that splits ``tasks`` evenly (1 when several
    processes share the hosts under jax.distributed, or with no task axis)."""
    if setting != "auto":
        return int(setting)
    if several_processes or tasks < 2:
        return 1
    return max(d for d in range(1, min(cores, tasks) + 1) if tasks % d == 0)


def patient_collectives(environ: MutableMapping[str, str] = os.environ) -> None:
    """Adds COLLECTIVE_PATIENCE to ``XLA_FLAGS`` (a value the user set wins).  Must run
    before JAX starts its CPU backend, which reads the flags once."""
    if _jaxlib_version() < PATIENCE_SINCE_JAXLIB:
        return
    flags = environ.get("XLA_FLAGS", "")
    extra = [f"--{name}={value}" for name, value in COLLECTIVE_PATIENCE.items() if name not in flags]
    if extra:
        environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()


def _jaxlib_version() -> tuple[int, ...]:
    from importlib.metadata import PackageNotFoundError, version
    try:
        release = version("jaxlib")
    except PackageNotFoundError:
        return (0,)
    return tuple(int(part) for part in re.findall(r"\d+", release)[:2])


def split_host_cpu(devices: int, environ: MutableMapping[str, str] = os.environ) -> None:
    """Gives JAX's CPU backend ``devices`` devices, patient at their collectives.  An
    ``XLA_FLAGS=--xla_force_host_platform_device_count`` set by the user wins; once JAX's
    backends are up (a second run in one process) the count can no longer change."""
    import jax
    forced = FORCED_DEVICES_FLAG in environ.get("XLA_FLAGS", "")
    if forced or devices > 1:
        patient_collectives(environ)
    if forced or devices <= 1:
        return
    try:
        jax.config.update("jax_num_cpu_devices", devices)
    except RuntimeError:
        log.warning("JAX is already running: keeping its %d device(s) (distributed.cpu_devices=%d "
                    "needs a fresh process)", jax.device_count(), devices)
