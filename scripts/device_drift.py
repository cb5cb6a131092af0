"""Parameters after N meta-steps on one device against the same steps sharded over more
(simulated CPU devices): the largest difference, per algorithm and task batching.

metagan's meta-update adds the tasks' results in one fixed order on any layout, so with
``map`` or unrolled task batching every difference is 0; ``vmap`` (the GPU/TPU default)
may round per task by batch size (docs/reliability.md).  A small model on random
images, outer Adam at 1e-3 (every algorithm keeps moving); JSON lines on stdout.

  python scripts/device_drift.py --batching vmap --steps 1,10,50
  python scripts/device_drift.py --batching map,unrolled --steps 50 --check   # exit 1 unless identical
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--algos", default="reptile,fomaml,maml")
    ap.add_argument("--batching", default="map,unrolled,vmap", help="loop.task_batching values")
    ap.add_argument("--steps", default="50", help="meta-steps at which to compare (comma-separated)")
    ap.add_argument("--devices", default="1,2,4", help="layouts; the first is the reference")
    ap.add_argument("--tasks", type=int, default=4, help="algo.meta_batch")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless every layout is bit-identical, finite and trained")
    a = ap.parse_args(argv)
    layouts = [int(d) for d in a.devices.split(",")]
    # simulated CPU devices must be asked for before JAX starts
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={max(layouts)}")
    from metagan_cli.cluster.host_devices import patient_collectives
    patient_collectives()                  # as metagan's own runs: a loaded host delays a device
    import jax
    import numpy as np

    from metagan_cli.config import (AlgoConfig, LoopConfig, MetaLearnConfig, ModelConfig, OptimConfig,
                                    TaskConfig)
    from metagan_cli.core.algorithms import make_meta_step
    from metagan_cli.core.gan import Gan
    from metagan_cli.core.meta_state import init_meta_state
    from metagan_cli.core.task_parallel import replicated, task_mesh
    from metagan_cli.data.tasks import TaskData, to_class_images

    if jax.device_count() < max(layouts):
        sys.exit(f"device_drift.py: {jax.device_count()} devices, {max(layouts)} needed "
                 f"(JAX was set up before this script)")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (100, 8, 8, 1)).astype(np.uint8)
    labels = np.repeat(np.arange(10), 10).astype(np.int32)
    data = to_class_images(TaskData(pixels, labels, [str(i) for i in range(10)], tuple(range(7)), (7, 8, 9)))
    classes = jax.numpy.arange(7)
    checkpoints = sorted(int(s) for s in a.steps.split(","))
    ok = True
    for name in a.algos.split(","):
        for batching in a.batching.split(","):
            cfg = MetaLearnConfig(
                task=TaskConfig(image_size=8), model=ModelConfig(image_size=8, z_dim=8, width=8),
                algo=AlgoConfig(name=name, meta_batch=a.tasks, inner_steps=2, queries=2),
                inner_optim=OptimConfig(name="sgd", lr=0.05), outer_optim=OptimConfig(name="adam", lr=1e-3),
                loop=LoopConfig(scan_unroll="full", task_batching=batching))
            gan = Gan(cfg.model, cfg.gan_loss)
            leaves = lambda state: [np.asarray(x) for x in jax.tree_util.tree_leaves(state["params"])]
            start = leaves(init_meta_state(cfg, gan))
            params = {}               # (devices, step) -> leaves
            for devices in layouts:
                mesh = task_mesh(jax.devices()[:devices]) if devices > 1 else None
                state = init_meta_state(cfg, gan)
                if mesh is not None:
                    state = jax.device_put(state, replicated(mesh))
                step_fn = jax.jit(make_meta_step(cfg, gan, mesh))
                for step in range(1, checkpoints[-1] + 1):
                    state, _ = step_fn(state, data, classes)
                    # one step in flight, as meta-train (it reads each step's divergence flag):
                    # XLA:CPU can deadlock with many multi-device steps queued
                    jax.block_until_ready(state)
                    if step in checkpoints:
                        params[devices, step] = leaves(state)
            for step in checkpoints:
                reference = params[layouts[0], step]
                finite = all(np.isfinite(x).all() for x in reference)
                trained = all(not np.array_equal(x, y) for x, y in zip(start, reference) if x.size > 1)
                for devices in layouts[1:]:
                    diff = max(float(np.abs(x - y).max()) for x, y in zip(reference, params[devices, step]))
                    print(json.dumps({"algo": name, "task_batching": batching, "tasks": a.tasks, "step": step,
                                      "devices": devices, "reference_devices": layouts[0], "max_abs_diff": diff,
                                      "max_abs_param": max(float(np.abs(x).max()) for x in reference),
                                      "finite": finite, "trained": trained}), flush=True)
                    ok = ok and diff == 0 and finite and trained
    return 0 if ok or not a.check else 1


if __name__ == "__main__":
    sys.exit(main())
