"""``bench.py --matrix``: what a user waits for, on each shipped task's default config.

A cell is one (task, program): a meta-train algorithm's jitted meta-step, or the
adaptation program of ``metagan adapt`` or of one eval budget chunk.  Each cell runs in
a fresh Python process with no compilation cache (``bench.py --cell TASK PROGRAM``), so
``first_step_s`` is what a new user waits for: tracing, compilation and the first step.
The config is composed by Hydra from ``conf/`` with the cell's overrides, exactly as
``metagan meta-train <overrides>`` composes it; the images are random (only speed is
measured).
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "bench.py"

# task cells: the overrides of `metagan meta-train` that select each shipped task's defaults
TASKS = {
    "digits": ["task=fewshot_digits"],                     # 16x16, the embedded default
    "mnist": ["task=fewshot_mnist"],                       # 32x32 (TFDS)
    "omniglot_folder": ["task=folder"],                    # 32x32 (data.path=omniglot folder)
    "reference": ["task.image_size=28", "model=reference"],  # the speed benchmark's model
}
# program cells: overrides, and the first-step budget in seconds on 2 CPU cores
PROGRAMS = {
    "reptile": (["algo=reptile"], 20),
    "fomaml": (["algo=fomaml"], 20),
    "maml": (["algo=maml"], 60),
    "meta_sgd": (["algo=maml", "algo.learn_inner_lr=true"], 60),
    "pretrain": (["algo=pretrain"], 20),
    "adapt": (["algo=scratch"], 20),        # `metagan adapt` of any run (algo=scratch's only program)
    "eval_chunk": (["algo=scratch"], 20),   # one eval budget chunk (eval.chunk steps)
}
SHORT_TASKS = ("digits",)
TIMED_SECONDS = 2.0     # each steady round runs at least this long
ROUNDS = 3


def compose(task: str, program: str):
    """The frozen config `metagan meta-train` would run for this cell."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from metagan_cli.commands.hydra_app import distributed_config, meta_learn_config
    with initialize_config_module("metagan_cli.conf", version_base=None):
        cfg = hydra_compose("meta_train", overrides=TASKS[task] + PROGRAMS[program][0])
    return meta_learn_config(cfg), distributed_config(cfg)


def random_classes(cfg, classes: int = 8, per_class: int = 20):
    """Class images of the task's size (random: only speed is measured)."""
    import jax.numpy as jnp
    import numpy as np
    from metagan_cli.core.episodes import ClassImages
    size, channels = cfg.model.image_size, cfg.model.channels
    images = np.random.default_rng(0).integers(0, 256, (classes * per_class, size, size, channels),
                                               dtype=np.uint8)
    return (ClassImages(images=jnp.asarray(images),
                        offsets=jnp.arange(classes, dtype=jnp.int32) * per_class,
                        counts=jnp.full((classes,), per_class, jnp.int32), max_count=per_class),
            jnp.arange(classes, dtype=jnp.int32))


def _timed(call, inner_steps_per_call: int, rounds: int = ROUNDS) -> tuple[float, float | None]:
    """(seconds of the first call, steady inner steps/s: median of ``rounds`` rounds)."""
    import jax
    t0 = time.perf_counter()
    jax.block_until_ready(call())
    first = time.perf_counter() - t0
    rates = []
    for _ in range(rounds):
        n, t0 = 0, time.perf_counter()
        while n == 0 or time.perf_counter() - t0 < TIMED_SECONDS:
            jax.block_until_ready(call())
            n += 1
        rates.append(n * inner_steps_per_call / (time.perf_counter() - t0))
    return first, statistics.median(rates) if rates else None


def _memory(compiled) -> dict:
    mem = compiled.memory_analysis()
    if mem is None:
        return {}
    return {"peak_bytes": int(mem.argument_size_in_bytes + mem.output_size_in_bytes
                              + mem.temp_size_in_bytes - mem.alias_size_in_bytes)}


def run_cell(task: str, program: str, steady: bool = True) -> dict:
    """Times one cell in this (fresh) process (``steady=False``: its first step only)."""
    t_process = time.perf_counter()
    cfg, distributed = compose(task, program)
    from metagan_cli.cluster.devices import meta_batch_mesh, set_up_devices
    set_up_devices(cfg, distributed)          # as meta-train does, before JAX starts
    import jax
    from metagan_cli.core.algorithms import algorithm, loop_layout
    from metagan_cli.core.gan import Gan
    from metagan_cli.core.loop_layout import resolve_layout
    from metagan_cli.core.meta_state import init_meta_state
    gan = Gan.of(cfg)
    state = init_meta_state(cfg, gan)
    data, classes = random_classes(cfg)
    rec = {"task": task, "program": program, "image_size": cfg.model.image_size,
           "model": cfg.model.arch, "budget_s": PROGRAMS[program][1]}
    t0 = time.perf_counter()
    if program in ("adapt", "eval_chunk"):
        support = data.images[:cfg.shots].astype("float32") / 127.5 - 1.0
        key = jax.random.PRNGKey(0)
        if program == "adapt":
            from metagan_cli.core.inner_loop import make_adaptation
            steps = cfg.algo.inner_steps
            fn = jax.jit(make_adaptation(gan, cfg, steps))
            call = lambda: fn(state["params"], support, key)
            layout = resolve_layout(cfg.loop, cfg.model, steps)
        else:
            from metagan_cli.config import EvalConfig
            from metagan_cli.evaluation.methods import Trajectory
            steps = EvalConfig().chunk
            trajectory = Trajectory(cfg, gan, steps)
            call = lambda: trajectory.run(state["params"], support, key, [steps])
            layout = trajectory.layout
        compiled = None
        rec["devices"] = 1
    else:
        from metagan_cli.core.task_parallel import replicated
        from metagan_cli.workflows.meta_train import jitted_meta_step
        mesh = meta_batch_mesh(cfg)
        if mesh is not None:
            state, data, classes = jax.device_put((state, data, classes), replicated(mesh))
        compiled = jitted_meta_step(cfg, gan, mesh).lower(state, data, classes).compile()
        box = {"state": state}

        def call():
            box["state"], metrics, _ = compiled(box["state"], data, classes)
            return metrics
        steps = cfg.algo.inner_steps * algorithm(cfg).tasks_per_step(cfg)
        layout = loop_layout(cfg)
        rec["devices"] = jax.device_count()
    built_s = time.perf_counter() - t0        # lowering and compiling, where done ahead
    first, rate = _timed(call, steps, ROUNDS if steady else 0)
    rec.update({"first_step_s": round(built_s + first, 2),
                "inner_steps_per_s": round(rate, 1) if rate else None,
                "loop": layout.as_dict(), **(_memory(compiled) if compiled is not None else {}),
                "process_s": round(time.perf_counter() - t_process, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
    rec["within_budget"] = rec["first_step_s"] <= rec["budget_s"]
    # the host's speed right after (a virtual machine's moves from minute to minute)
    from bench import host_probe
    rec["host_gflop_per_s"] = host_probe()
    return rec


def run_matrix(which: str, emit, tasks=None, programs=None, steady: bool = True) -> list[dict]:
    """Every cell (or those of ``tasks`` x ``programs``), each in a fresh process without
    a compilation cache; ``emit`` each JSON record as it comes (a cell that fails gives
    an ``error`` record)."""
    env = {**os.environ, "METAGAN_COMPILATION_CACHE": "off"}
    env.pop("XLA_FLAGS", None)
    tasks = tasks or (SHORT_TASKS if which == "short" else tuple(TASKS))
    unknown = set(tasks) - set(TASKS) | set(programs or ()) - set(PROGRAMS)
    if unknown:
        sys.exit(f"bench.py: unknown matrix task or program {sorted(unknown)}; tasks: "
                 f"{', '.join(TASKS)}; programs: {', '.join(PROGRAMS)}")
    import jax
    rows = [{"impl": "matrix", "which": which, "jax": jax.__version__, "cpu_cores": len(os.sched_getaffinity(0))
             if hasattr(os, "sched_getaffinity") else os.cpu_count(),
             "load_1min": round(os.getloadavg()[0], 2)}]
    emit(rows[0])
    for task in tasks:
        for program in programs or PROGRAMS:
            cmd = [sys.executable, str(SCRIPT), "--cell", task, program]
            out = subprocess.run(cmd + ([] if steady else ["--first-steps-only"]), env=env,
                                 capture_output=True, text=True)
            lines = out.stdout.strip().splitlines()
            if out.returncode or not lines:
                rec = {"task": task, "program": program, "error": (out.stderr.strip().splitlines()
                                                                    or ["no output"])[-1]}
            else:
                rec = json.loads(lines[-1])
            rec["load_1min"] = round(os.getloadavg()[0], 2)
            rows.append(rec)
            emit(rec)
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The matrix as a markdown table: a row per task, a column per program, each cell
    "first step s / steady inner steps per s" (over budget: in bold with its budget)."""
    cells = {(r["task"], r["program"]): r for r in rows if "program" in r}
    tasks = [t for t in TASKS if any(k[0] == t for k in cells)]
    programs = [p for p in PROGRAMS if any(k[1] == p for k in cells)]
    lines = ["| task (image size) | " + " | ".join(
                 f"{p} (<= {PROGRAMS[p][1]} s)" for p in programs) + " |",
             "| --- |" + " --- |" * len(programs)]
    for task in tasks:
        size = next(r["image_size"] for (t, _), r in cells.items() if t == task and "image_size" in r)
        row = []
        for program in programs:
            r = cells.get((task, program))
            if r is None:
                row.append("")
            elif "error" in r:
                row.append("error")
            else:
                first = f"{r['first_step_s']:.1f} s"
                rate = f" / {r['inner_steps_per_s']:.0f}" if r.get("inner_steps_per_s") else ""
                row.append(f"{first}{rate}" if r["within_budget"] else f"**{first}**{rate}")
        lines.append(f"| {task} ({size}x{size}) | " + " | ".join(row) + " |")
    return "\n".join(lines)
