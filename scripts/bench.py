#!/usr/bin/env python3
"""Times metagan's meta-train step on the PyTorch reference's model and work.

The model, losses and algorithm settings are those of the reference meta-GAN step
(../shared/bench/REFERENCE.md): the 28x28 DCGAN (``model.arch=reference``), the
non-saturating loss, one D then one G update per inner step on ``--batch`` support
images; reptile with inner Adam (lr 1e-4, b1 0.5), fomaml and maml with inner SGD
(lr 1e-4), the outer step at learning rate 1 (outer SGD), random data.  What is timed
is the function `metagan meta-train` runs each meta-step (``jitted_meta_step``: the
algorithm's step with its finiteness check, episode sampling included), on devices set
up by the same function (``set_up_devices``).

One JSON line per configuration, with the reference's fields (algo, inner_steps,
meta_batch, batch, first_step_s, meta_step_s, inner_steps_per_s) and:
  peak_bytes        XLA's compiled memory analysis of the meta-step: arguments +
                    outputs + temporaries - aliased bytes (deterministic; the same
                    figure the buffer assignment of the backend reserves)
  gpu_peak_bytes    on GPU/TPU, the device's peak_bytes_in_use after the run
  peak_rss_mb       the process's peak resident memory (includes compilation)
  xla_flops         FLOPs of one meta-step by XLA's cost analysis (a rolled loop's
                    body counted once: meaningful for fully unrolled programs only)
  model_gflop_per_inner_step, model_gflop_per_s
                    the reference model's FLOPs per inner step, counted by hand
                    (model_flops_per_inner_step) and at the measured rate
  loop              the loop structure used (scan unroll, task batching, remat)
  program_sha256    the first 16 hex digits of the SHA-256 of the lowered meta-step
                    (StableHLO text): equal across two checkouts = the same program
                    compiled and timed (``--memory-only`` prints it in seconds)
  malloc_arenas     capped (as the ``metagan`` command runs) or glibc's default

``--compare`` runs the PyTorch reference script (``--reference``) in a subprocess,
alternating with rounds of the JAX step, and prints a "ratio" line: the median over
rounds of torch seconds per meta-step / JAX seconds per meta-step.  With ``--separate``
the JAX side of each round runs in a fresh process too (each side alone on the machine,
nothing of the other resident).  Each round also
records the host's speed before and after it (``host_gflop_per_s``, a small matmul) and
the CPU time the hypervisor took during the PyTorch run (``torch_cpu_steal``); when the
probe or the round ratios move by more than 25% the script says so on stderr.

  python scripts/bench.py --algo reptile --inner-steps 10 --meta-batch 4 --batch 8
  python scripts/bench.py --algo maml --compare --rounds 3
  python scripts/bench.py --algo maml --inner-steps 100 --remat nested --memory-only
  python scripts/bench.py --algo fomaml --profile 20      # where the step's time goes

``--matrix`` times what a user waits for on each shipped task's default config: every
algorithm's first meta-step of `metagan meta-train task=...` (compilation included, in a
fresh process with no compilation cache), its steady inner steps/s, and the first
adaptation step of `metagan adapt` and of an eval budget chunk; one JSON line per cell
with its budget (``--matrix short``: the 16x16 digits task only, a regression guard).

  python scripts/bench.py --matrix --out docs/benchmarks/matrix.jsonl
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = Path("..") / "shared" / "bench" / "torch_reference.py"


def meta_learners() -> list[str]:
    """The registered algorithms with a task axis (those the reference's step times)."""
    from metagan_cli.core.algorithms import ALGORITHMS
    return [a.name for a in ALGORITHMS if a.trains and a.has_task_axis]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--algo", choices=meta_learners(), default="reptile")
    ap.add_argument("--inner-steps", type=int, default=10)
    ap.add_argument("--meta-batch", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--z-dim", type=int, default=100)
    ap.add_argument("--channels", type=int, default=64, help="the model's width (reference: 64)")
    ap.add_argument("--inner-lr", type=float, default=1e-4)
    ap.add_argument("--outer-lr", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=5, help="timed meta-steps (per round)")
    ap.add_argument("--scan-unroll", default="auto", help="loop.scan_unroll: int, full or auto")
    ap.add_argument("--task-batching", default="auto", help="loop.task_batching: vmap|map|unrolled|auto")
    ap.add_argument("--remat", default="auto", help="loop.remat: none|step|nested|auto")
    ap.add_argument("--cpu-devices", default="auto",
                    help="distributed.cpu_devices: XLA devices on the CPU's cores, tasks sharded "
                         "over them (auto: as meta-train)")
    ap.add_argument("--fresh-fake", dest="reuse_fake", action="store_false",
                    help="fresh latents for the G update (metagan's default; the reference "
                         "reuses the D update's generated batch: algo.reuse_fake=true)")
    ap.add_argument("--memory-only", action="store_true",
                    help="compile and report memory and FLOPs without running the step")
    ap.add_argument("--compare", action="store_true",
                    help="alternate rounds of the JAX step and the PyTorch reference; print ratios")
    ap.add_argument("--rounds", type=int, default=3, help="--compare: alternating rounds")
    ap.add_argument("--separate", action="store_true",
                    help="--compare: run the JAX side of each round in a fresh process too, so "
                         "each side runs alone on the machine (compiling again every round)")
    ap.add_argument("--malloc-arenas", choices=("capped", "default"), default="capped",
                    help="capped: glibc's arenas capped as `metagan` does at start "
                         "(cluster/host_memory.py); default: glibc's own limit")
    ap.add_argument("--reference", default=str(DEFAULT_REFERENCE),
                    help="the PyTorch reference script (default: ../shared/bench/torch_reference.py)")
    ap.add_argument("--peak", action="store_true",
                    help="also measure the device's float32 matmul FLOP/s (2048 x 2048)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="trace 3 meta-steps with jax.profiler and print the N ops that took "
                         "the most thread time, and the share of matmul ops")
    ap.add_argument("--torch-steps", type=int, default=None,
                    help="--compare: timed steps per torch round (default: --steps)")
    ap.add_argument("--matrix", nargs="?", const="all", choices=("all", "short"),
                    help="every algorithm x every task default, each cell in a fresh process "
                         "(short: the digits task only)")
    ap.add_argument("--tasks", help="--matrix: only these tasks (comma-separated)")
    ap.add_argument("--programs", help="--matrix: only these programs (comma-separated)")
    ap.add_argument("--first-steps-only", action="store_true",
                    help="--matrix: time first steps only, not the steady rate (a quick guard)")
    ap.add_argument("--table", metavar="JSONL", help="print a --matrix JSONL file as a markdown table")
    ap.add_argument("--cell", nargs=2, metavar=("TASK", "PROGRAM"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help="--matrix: also write the JSON lines to this file")
    return ap.parse_args(argv)


def bench_config(a):
    """metagan's config for the reference's work."""
    from metagan_cli.config import (AlgoConfig, LoopConfig, MetaLearnConfig, ModelConfig,
                                    OptimConfig, TaskConfig, validate)
    from metagan_cli.core.algorithms import ALGORITHMS
    remat = {"none": False, "false": False}.get(a.remat, a.remat)
    unroll = int(a.scan_unroll) if str(a.scan_unroll).isdigit() else a.scan_unroll
    # the reference adapts with Adam where tasks have no queries (Reptile), SGD otherwise (MAML)
    inner = (OptimConfig(name="sgd", lr=a.inner_lr) if ALGORITHMS.get(a.algo).needs_queries
             else OptimConfig(name="adam", lr=a.inner_lr, b1=0.5, b2=0.999))
    cfg = MetaLearnConfig(
        task=TaskConfig(image_size=28, train_classes=tuple(range(a.meta_batch)), test_classes=(),
                        validation_classes=()),
        model=ModelConfig(arch="reference", image_size=28, channels=1, z_dim=a.z_dim,
                          width=a.channels, norm="none"),
        algo=AlgoConfig(name=a.algo, meta_batch=a.meta_batch, inner_steps=a.inner_steps,
                        queries=a.batch, reuse_fake=a.reuse_fake),
        inner_optim=inner,
        outer_optim=OptimConfig(name="sgd", lr=a.outer_lr),
        loop=LoopConfig(scan_unroll=unroll, task_batching=a.task_batching, remat=remat),
        shots=a.batch)
    return validate(cfg)


def random_task_data(cfg, seed: int = 0):
    """meta_batch classes of shots + queries random images each (only speed is measured)."""
    import jax.numpy as jnp
    import numpy as np
    from metagan_cli.core.episodes import ClassImages
    per_class = cfg.shots + cfg.algo.queries
    n_classes = len(cfg.task.train_classes)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n_classes * per_class, 28, 28, 1), dtype=np.uint8)
    data = ClassImages(images=jnp.asarray(images),
                       offsets=jnp.arange(n_classes, dtype=jnp.int32) * per_class,
                       counts=jnp.full((n_classes,), per_class, jnp.int32), max_count=per_class)
    return data, jnp.arange(n_classes, dtype=jnp.int32)


def model_flops_per_inner_step(batch: int, z_dim: int = 100, w: int = 64) -> int:
    """2 x multiply-adds of one reference inner step on ``batch`` images, counting each
    layer's weight gradient and input gradient as one forward each: one G forward; the D
    update (D forward on real and fake, weight gradients, input gradients of all but the
    first layer); the G update (D forward on the fake, D's input gradients, G's weight
    gradients and input gradients of all but the first layer)."""
    g_dense, g_ct1, g_ct2 = z_dim * 2 * w * 49, 49 * 2 * w * 16 * w, 196 * w * 16
    d_c1, d_c2, d_dense = 196 * w * 16, 49 * 2 * w * 16 * w, 2 * w * 49
    g, d = g_dense + g_ct1 + g_ct2, d_c1 + d_c2 + d_dense
    per_image = g + (2 * d + 2 * d + 2 * (d - d_c1)) + (d + d + g + (g - g_dense))
    return 2 * batch * per_image


def matmul_peak_flops(n: int = 2048, repeats: int = 10) -> float:
    """The best FLOP/s of an n x n float32 matmul on the default device."""
    import jax
    import jax.numpy as jnp
    x = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(x).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(x).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def host_probe() -> float:
    """The host's speed now: GFLOP/s of a 1024 x 1024 float32 matmul (best of 5)."""
    return round(matmul_peak_flops(1024, 5) / 1e9, 1)


def cpu_steal() -> float | None:
    """Seconds of CPU time the hypervisor has taken from this virtual machine since boot
    (``/proc/stat``; None elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class JaxBench:
    """metagan's jitted meta-step on the reference's work, compiled once."""

    def __init__(self, a):
        from metagan_cli.cluster.devices import meta_batch_mesh, set_up_devices
        from metagan_cli.config import DistributedConfig
        self.cfg = bench_config(a)
        # exactly as `metagan meta-train` sets up devices, before anything touches one
        set_up_devices(self.cfg, DistributedConfig(initialize=False, cpu_devices=(
            "auto" if a.cpu_devices == "auto" else int(a.cpu_devices))))
        import jax
        from metagan_cli.core.algorithms import loop_layout
        from metagan_cli.core.gan import Gan
        from metagan_cli.core.meta_state import init_meta_state
        from metagan_cli.core.task_parallel import replicated
        from metagan_cli.workflows.meta_train import jitted_meta_step
        self.a, self.jax = a, jax
        gan = Gan.of(self.cfg)
        self.state = init_meta_state(self.cfg, gan)
        self.data, self.classes = random_task_data(self.cfg)
        mesh = meta_batch_mesh(self.cfg)
        if mesh is not None:             # every device holds the state and data whole
            self.state, self.data, self.classes = jax.device_put(
                (self.state, self.data, self.classes), replicated(mesh))
        self.loop = {**loop_layout(self.cfg).as_dict(), "devices": jax.device_count()}
        t0 = time.perf_counter()
        lowered = jitted_meta_step(self.cfg, gan, mesh).lower(self.state, self.data, self.classes)
        # the program's identity: a core change that leaves it equal leaves the timings standing
        self.program = hashlib.sha256(lowered.as_text().encode()).hexdigest()[:16]
        self.compiled = lowered.compile()
        self.compile_s = time.perf_counter() - t0
        self.first_step_s = None

    def memory(self) -> dict:
        out = {}
        mem = self.compiled.memory_analysis()
        if mem is not None:
            out["peak_bytes"] = int(mem.argument_size_in_bytes + mem.output_size_in_bytes
                                    + mem.temp_size_in_bytes - mem.alias_size_in_bytes)
            out["temp_bytes"] = int(mem.temp_size_in_bytes)
        cost = self.compiled.cost_analysis()
        if isinstance(cost, list):
            cost = cost[0] if cost else {}
        if cost and "flops" in cost:
            out["xla_flops"] = int(cost["flops"])
        return out

    def run(self, steps: int) -> float:
        """Runs ``steps`` meta-steps (the first ever call also compiles: first_step_s);
        returns seconds per meta-step."""
        jax = self.jax
        if self.first_step_s is None:
            t0 = time.perf_counter()
            self.state, metrics, _ = self.compiled(self.state, self.data, self.classes)
            jax.block_until_ready(metrics)
            self.first_step_s = self.compile_s + time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(steps):
            self.state, metrics, finite = self.compiled(self.state, self.data, self.classes)
            # waits for each step as meta-train does (it reads the divergence flag): with
            # many multi-device steps queued, XLA:CPU can deadlock
            jax.block_until_ready(finite)
        jax.block_until_ready((self.state, metrics))
        return (time.perf_counter() - t0) / steps

    def profile(self, top: int, steps: int = 3) -> list[dict]:
        """Per-op thread time of ``steps`` meta-steps from a jax.profiler trace: the
        ``top`` ops by time, then the share of XLA:CPU's matmul thunks (``dot.*`` and
        ``ynn_fusion.*``, the YNNPACK fusions around a dot) in all op time."""
        import collections
        import tempfile
        from jax.profiler import ProfileData
        jax = self.jax
        self.run(1)
        with tempfile.TemporaryDirectory() as trace_dir:
            with jax.profiler.trace(trace_dir):
                self.run(steps)
            trace = next(Path(trace_dir).rglob("*.xplane.pb"))
            data = ProfileData.from_file(str(trace))
        time_ns, calls = collections.Counter(), collections.Counter()
        for plane in data.planes:
            for line in plane.lines:
                # XLA:CPU runs ops on its Eigen pool and, for small ops or a busy
                # machine, inline on the client's threads: count both, not python's
                if not line.name.startswith(("tf_XLAEigen", "tf_XLAPjRtCpuClient")):
                    continue
                for event in line.events:
                    if "::" not in event.name and not event.name.startswith(("Wait", "Rendezvous")):
                        time_ns[event.name] += event.duration_ns
                        calls[event.name] += 1
        total = sum(time_ns.values()) or 1
        matmul = sum(t for name, t in time_ns.items() if name.startswith(("dot", "ynn_fusion")))
        rows = [{"impl": "profile", "op": name, "ms_per_step": round(t / steps / 1e6, 2),
                 "calls_per_step": calls[name] // steps, "share": round(t / total, 3)}
                for name, t in time_ns.most_common(top)]
        rows.append({"impl": "profile_summary", "op_ms_per_step": round(total / steps / 1e6, 1),
                     "matmul_share": round(matmul / total, 3)})
        return rows

    def record(self, meta_step_s: float | None) -> dict:
        import jax
        a = self.a
        rec = {"impl": "jax", "jax": jax.__version__, "backend": jax.default_backend(),
               "algo": a.algo, "inner_steps": a.inner_steps, "meta_batch": a.meta_batch,
               "batch": a.batch, "z_dim": a.z_dim, "channels": a.channels,
               "loop": self.loop, "program_sha256": self.program,
               "malloc_arenas": a.malloc_arenas,
               "first_step_s": round(self.first_step_s or self.compile_s, 3),
               "compile_s": round(self.compile_s, 3)}
        if meta_step_s is not None:
            rec["meta_step_s"] = round(meta_step_s, 4)
            rec["inner_steps_per_s"] = round(a.inner_steps * a.meta_batch / meta_step_s, 1)
        rec.update(self.memory())
        model_flops = model_flops_per_inner_step(a.batch, a.z_dim, a.channels)
        rec["model_gflop_per_inner_step"] = round(model_flops / 1e9, 3)
        if meta_step_s is not None:
            rec["model_gflop_per_s"] = round(model_flops * a.inner_steps * a.meta_batch
                                             / meta_step_s / 1e9, 1)
        if jax.default_backend() != "cpu":
            stats = jax.local_devices()[0].memory_stats() or {}
            if "peak_bytes_in_use" in stats:
                rec["gpu_peak_bytes"] = int(stats["peak_bytes_in_use"])
        rec["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return rec


def torch_round(a, steps: int) -> dict:
    """One run of the PyTorch reference script in a subprocess (its own JSON line)."""
    reference = Path(a.reference)
    if not reference.is_file():
        sys.exit(f"bench.py: no PyTorch reference at {reference} (--reference PATH)")
    cmd = [sys.executable, str(reference), "--algo", a.algo, "--inner-steps", str(a.inner_steps),
           "--meta-batch", str(a.meta_batch), "--batch", str(a.batch), "--z-dim", str(a.z_dim),
           "--channels", str(a.channels), "--inner-lr", str(a.inner_lr),
           "--outer-lr", str(a.outer_lr), "--steps", str(steps)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rec = json.loads(out.strip().splitlines()[-1])
    if not a.separate:     # otherwise the children's peak includes the JAX processes
        rec["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    return rec


def jax_round(a) -> dict:
    """One run of metagan's step in a fresh process (``--compare --separate``): its record."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--algo", a.algo,
           "--inner-steps", str(a.inner_steps), "--meta-batch", str(a.meta_batch),
           "--batch", str(a.batch), "--z-dim", str(a.z_dim), "--channels", str(a.channels),
           "--inner-lr", str(a.inner_lr), "--outer-lr", str(a.outer_lr), "--steps", str(a.steps),
           "--scan-unroll", str(a.scan_unroll), "--task-batching", a.task_batching,
           "--remat", a.remat, "--cpu-devices", a.cpu_devices, "--malloc-arenas", a.malloc_arenas]
    if not a.reuse_fake:
        cmd.append("--fresh-fake")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def emit(rec: dict) -> None:
    print(json.dumps(rec), flush=True)


def main(argv=None) -> None:
    a = parse_args(argv)
    if a.table:
        from bench_matrix import markdown_table
        print(markdown_table([json.loads(line) for line in Path(a.table).read_text().splitlines()]))
        return
    if a.cell:
        from bench_matrix import run_cell
        emit(run_cell(*a.cell, steady=not a.first_steps_only))
        return
    if a.matrix:
        from bench_matrix import run_matrix
        rows = run_matrix(a.matrix, emit, a.tasks and a.tasks.split(","),
                          a.programs and a.programs.split(","),
                          steady=not a.first_steps_only)
        if a.out:
            Path(a.out).write_text("".join(json.dumps(r) + "\n" for r in rows))
        return
    load = os.getloadavg()[0]
    if a.malloc_arenas == "capped":     # before JAX starts its threads, as the CLI does
        from metagan_cli.cluster.host_memory import cap_malloc_arenas
        cap_malloc_arenas()
    if a.separate and not a.compare:
        sys.exit("bench.py: --separate goes with --compare")
    bench = None if a.separate else JaxBench(a)
    if a.peak:
        emit({"impl": "matmul_peak", "gflop_per_s": round(matmul_peak_flops() / 1e9, 1)})
    if a.memory_only:
        emit({**bench.record(None), "load_1min": round(load, 2)})
        return
    if a.profile:
        for row in bench.profile(a.profile):
            emit(row)
        return
    if not a.compare:
        emit({**bench.record(bench.run(a.steps)), "load_1min": round(load, 2)})
        return
    # The host's own speed is probed around every round (a small matmul: a slow period of
    # a virtual machine shows as a drop, with or without CPU steal), so a round timed in
    # such a period is visible in the records instead of hiding in a single ratio.
    jax_times, torch_times, jax_recs, torch_recs, probes = [], [], [], [], []
    for r in range(a.rounds):
        before = host_probe()
        if a.separate:
            jax_recs.append(jax_round(a))
            jax_times.append(jax_recs[-1]["meta_step_s"])
        else:
            jax_times.append(bench.run(a.steps))
        steal = cpu_steal()
        rec = torch_round(a, a.torch_steps or a.steps)
        after = host_probe()
        torch_recs.append(rec)
        torch_times.append(rec["meta_step_s"])
        probes += [before, after]
        emit({"round": r, "jax_meta_step_s": round(jax_times[-1], 4),
              "torch_meta_step_s": rec["meta_step_s"], "host_gflop_per_s": [before, after],
              "torch_cpu_steal": round(cpu_steal() - steal, 3) if steal is not None else None,
              "load_1min": round(os.getloadavg()[0], 2)})
    jax_s, torch_s = statistics.median(jax_times), statistics.median(torch_times)
    if a.separate:
        jax_rec = {**jax_recs[-1], "meta_step_s": round(jax_s, 4),
                   "inner_steps_per_s": round(a.inner_steps * a.meta_batch / jax_s, 1),
                   "first_step_s": round(statistics.median(j["first_step_s"] for j in jax_recs), 3),
                   "model_gflop_per_s": round(model_flops_per_inner_step(a.batch, a.z_dim, a.channels)
                                              * a.inner_steps * a.meta_batch / jax_s / 1e9, 1)}
    else:
        jax_rec = bench.record(jax_s)
    torch_rec = {**torch_recs[-1], "meta_step_s": round(torch_s, 4),
                 "inner_steps_per_s": round(a.inner_steps * a.meta_batch / torch_s, 1),
                 "first_step_s": round(statistics.median(t["first_step_s"] for t in torch_recs), 3)}
    emit(jax_rec)
    emit(torch_rec)
    emit({"impl": "ratio", "algo": a.algo, "inner_steps": a.inner_steps, "meta_batch": a.meta_batch,
          "batch": a.batch, "rounds": a.rounds, "separate": a.separate,
          "speedup": round(torch_s / jax_s, 2),
          "speedup_per_round": [round(t / j, 2) for j, t in zip(jax_times, torch_times)],
          "jax_first_step_s": jax_rec["first_step_s"], "torch_first_step_s": torch_rec["first_step_s"],
          "load_1min_start": round(load, 2), "load_1min_end": round(os.getloadavg()[0], 2),
          "host_gflop_per_s_range": [min(probes), max(probes)]})
    ratios = [t / j for j, t in zip(jax_times, torch_times)]
    if max(probes) > 1.25 * min(probes) or (len(ratios) > 1 and max(ratios) > 1.25 * min(ratios)):
        print(f"bench.py: the host's speed moved during the run (probe {min(probes):.0f}-"
              f"{max(probes):.0f} GFLOP/s, round ratios {min(ratios):.2f}-{max(ratios):.2f}x): "
              f"rerun on an idle machine before quoting it", file=sys.stderr)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
