"""Cluster readiness: several devices and processes give the numbers one device gives;
preempted and killed runs resume to the parameters of an uninterrupted run; guards
against divergence and against two writers; sweeps."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metagan_cli.cluster.host_devices import COLLECTIVE_PATIENCE, resolve_cpu_devices, split_host_cpu
from metagan_cli.cluster.preemption import EXIT_STATUS as PREEMPTED
from metagan_cli.cluster.run_lock import RunDirLock
from metagan_cli.core.gan import Gan
from metagan_cli.core.meta_state import init_meta_state
from metagan_cli.errors import TrainingDiverged
from metagan_cli.runs.checkpoints import Checkpoints
from metagan_cli.workflows.common import load_run
from metagan_cli.workflows.meta_train import _stop_if_diverged
from helpers import tiny_config

TINY = ["task.image_size=8", "model.width=8", "model.z_dim=8", "algo.meta_batch=2",
        "algo.inner_steps=2", "train.log_every=1", "train.sample_every=100000"]
SHARDED = [*TINY, "distributed.cpu_devices=2"]   # two CPU devices on any machine
LONG = ["train.steps=100000", "train.checkpoint_every=100000"]   # stopped from outside


def _command(*args):
    return [sys.executable, "-m", "metagan_cli", "meta-train", *args]


@pytest.fixture(scope="module")
def env():
    """The runs here share one tiny program, compiled once into the test run's
    compilation cache (conftest.py)."""
    return dict(os.environ)


def _run(args, cwd, env, check=True):
    result = subprocess.run(_command(*args), cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def _params(run_dir):
    return load_run(run_dir)[4]


def _assert_same(a, b, rtol=1e-6, atol=1e-7):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _logged_step(run_dir: Path) -> int:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines() if (run_dir / "metrics.jsonl").exists() else []
    return json.loads(lines[-1])["step"] if lines else 0


def _start_and_wait(args, cwd, env, until):
    process = subprocess.Popen(_command(*args), cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not until() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, f"run ended early:\n{process.communicate()[1][-3000:]}"
    return process


@pytest.mark.slow
def test_sigterm_and_kill_9_resume_to_the_parameters_of_an_uninterrupted_run(tmp_path, env):
    """(On two CPU devices, the tasks of each meta-step side by side, on any machine.)"""
    term_dir, kill_dir, whole_dir = tmp_path / "term", tmp_path / "kill", tmp_path / "whole"

    # SIGTERM: the checkpoint is saved at the step reached, and the status asks for a requeue
    process = _start_and_wait([*SHARDED, *LONG, f"hydra.run.dir={term_dir}"], tmp_path, env,
                              lambda: _logged_step(term_dir) >= 3)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == PREEMPTED, stderr[-2000:]
    term_step = Checkpoints(term_dir, read_only=True).latest_step()
    assert term_step >= 3 and term_step == _logged_step(term_dir)
    assert "stopped by SIGTERM" in stdout and "rerun the same command to resume" in stdout

    # kill -9: nothing is saved on the way out; the last periodic checkpoint survives
    process = _start_and_wait([*SHARDED, "train.steps=100000", "train.checkpoint_every=2",
                               f"hydra.run.dir={kill_dir}"], tmp_path, env,
                              lambda: _logged_step(kill_dir) >= 5)
    process.kill()
    process.wait(timeout=60)
    kill_step = Checkpoints(kill_dir, read_only=True).latest_step()
    assert kill_step and kill_step % 2 == 0

    final = max(term_step, kill_step) + 3
    for run_dir, every in ((term_dir, 100000), (kill_dir, 2)):   # the same commands, resumed
        out = _run([*SHARDED, f"train.steps={final}", f"train.checkpoint_every={every}",
                    f"hydra.run.dir={run_dir}"], tmp_path, env)
        assert "resuming from the checkpoint" in out.stdout
    out = _run([*SHARDED, f"train.steps={final}", "train.checkpoint_every=100000",
                f"hydra.run.dir={whole_dir}"], tmp_path, env)
    assert "sharding 2 tasks per meta-step over 2 devices" in out.stdout + out.stderr
    whole = _params(whole_dir)
    _assert_same(_params(term_dir), whole)
    _assert_same(_params(kill_dir), whole)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_through_jax_distributed_match_one_process(tmp_path, env):
    run = [*TINY, "train.steps=3", "train.checkpoint_every=3"]
    port = _free_port()
    shared = tmp_path / "two"
    processes = [subprocess.Popen(
        _command(*run, f"hydra.run.dir={shared}", f"distributed.coordinator=localhost:{port}",
                 "distributed.num_processes=2", f"distributed.process_id={i}"),
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in processes]
    for p, (_, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-3000:]
    assert "sharding 2 tasks per meta-step over 2 devices" in outputs[0][0]
    # only process 0 writes the log, metrics and metadata
    assert len((shared / "metrics.jsonl").read_text().splitlines()) == 3
    assert not list(shared.glob("*.log"))[1:]

    _run([*run, "distributed.cpu_devices=1", f"hydra.run.dir={tmp_path / 'one'}"], tmp_path, env)
    _assert_same(_params(shared), _params(tmp_path / "one"), rtol=0, atol=0)     # the same bits
    layouts = [json.loads((d / "run.json").read_text())["device_layout"] for d in (shared, tmp_path / "one")]
    assert [(x["processes"], x["devices"], x["tasks_per_device"]) for x in layouts] == [(2, 2, 1), (1, 1, 2)]


@pytest.mark.parametrize("setting, tasks, cores, processes, devices", [
    ("auto", 4, 2, False, 2), ("auto", 4, 8, False, 4), ("auto", 4, 3, False, 2),
    ("auto", 3, 2, False, 1), ("auto", 6, 4, False, 3), ("auto", 1, 8, False, 1),
    ("auto", 4, 2, True, 1), (3, 4, 2, False, 3), (1, 4, 8, False, 1)])
def test_cpu_devices_auto_takes_the_most_cores_that_split_the_tasks(setting, tasks, cores,
                                                                    processes, devices):
    assert resolve_cpu_devices(setting, tasks, cores, several_processes=processes) == devices


def test_a_forced_device_count_wins_and_a_running_jax_keeps_its_devices(caplog):
    before = jax.config.jax_num_cpu_devices
    split_host_cpu(2, {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    assert jax.config.jax_num_cpu_devices == before and not caplog.records
    jax.numpy.zeros(1).block_until_ready()          # the backend is up: too late to change
    split_host_cpu(2, {})
    assert "needs a fresh process" in caplog.text


def test_several_cpu_devices_wait_minutes_for_a_late_device_and_a_users_timeout_wins():
    environ = {}
    split_host_cpu(1, environ)
    assert environ == {}                               # one device has no collectives
    split_host_cpu(2, environ)
    assert environ["XLA_FLAGS"].split() == [f"--{k}={v}" for k, v in COLLECTIVE_PATIENCE.items()]
    mine = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4 "
                         "--xla_cpu_collective_call_terminate_timeout_seconds=7"}
    split_host_cpu(2, mine)
    assert "terminate_timeout_seconds=7" in mine["XLA_FLAGS"] and "=600" not in mine["XLA_FLAGS"]
    assert "warn_stuck_timeout_seconds=120" in mine["XLA_FLAGS"]


LATE_DEVICE = """
import time
import jax, jax.numpy as jnp
from metagan_cli.cluster.host_devices import split_host_cpu
split_host_cpu(2)
from jax.sharding import Mesh, PartitionSpec as P

spin = lambda n, x: jax.lax.fori_loop(0, n, lambda k, y: jnp.tanh(y @ y.T), x)
x = jnp.full((64, 64), 0.01)
probe = jax.jit(spin, static_argnums=0)
probe(4000, x).block_until_ready()
start = time.time(); probe(4000, x).block_until_ready()
n = int(4000 * LATE / (time.time() - start))      # about LATE seconds of work

def body(x):   # device 1 computes, device 0 waits at the all-gather
    x = jax.lax.cond(jax.lax.axis_index("t") == 1, lambda x: spin(n, x), lambda x: x, x)
    return jax.lax.all_gather(x, "t", tiled=True)
mesh = Mesh(jax.devices()[:2], ("t",))
run = jax.jit(jax.shard_map(body, mesh=mesh, in_specs=P("t"), out_specs=P(), check_vma=False))
start = time.time()
out = run(jnp.full((128, 64), 0.01)).block_until_ready()
print(out.shape, round(time.time() - start))
"""


@pytest.mark.slow
def test_a_device_that_reaches_a_collective_a_minute_late_does_not_abort_the_run():
    """XLA:CPU's own limit is 40 s (it aborts the process); metagan's split waits.  (A host
    callback in the late device's program hides the limit, so the lateness is compute.)"""
    result = subprocess.run([sys.executable, "-c", LATE_DEVICE.replace("LATE", "60")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    shape, seconds = result.stdout.rsplit(")", 1)
    assert shape == "(128, 64" and int(seconds) > 40, result.stdout     # late past XLA's limit


@pytest.mark.slow
@pytest.mark.parametrize("layouts", [
    ["--batching", "map,unrolled"],                                  # 4 tasks: 1, 2, 4 devices
    ["--algos", "reptile", "--batching", "map", "--tasks", "6", "--devices", "1,2"]])   # shares of 3: gathered whole
def test_one_two_and_four_devices_give_the_same_bits_after_50_meta_steps(layouts):
    """reptile, fomaml and maml sharded over simulated CPU devices: bit-identical
    parameters after 50 meta-steps, finite and moved from the initialisation.  (No
    3-device case: more simulated devices than cores can stall XLA's CPU collectives on
    a 2-core machine; metagan itself never splits a host into more devices than cores.)"""
    script = Path(__file__).resolve().parents[1] / "scripts" / "device_drift.py"
    result = subprocess.run([sys.executable, str(script), *layouts, "--steps", "50", "--check"],
                            capture_output=True, text=True, timeout=900)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0, (lines, result.stderr[-3000:])
    assert len(lines) == (12 if "--tasks" not in layouts else 1)
    assert all(x["max_abs_diff"] == 0 and x["finite"] and x["trained"] for x in lines)


@pytest.mark.slow
def test_a_diverging_run_stops_with_one_line_naming_the_step(tmp_path, env):
    result = _run([*TINY, "train.steps=5", "inner_optim.lr=1e30", f"hydra.run.dir={tmp_path / 'r'}"],
                  tmp_path, env, check=False)
    assert result.returncode == TrainingDiverged.exit_status
    last = result.stderr.strip().splitlines()[-1]
    assert "meta-step 1 produced NaN or inf" in last and "Traceback" not in result.stderr
    assert Checkpoints(tmp_path / "r", read_only=True).latest_step() is None


def test_divergence_keeps_and_names_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config()
    state = init_meta_state(cfg, Gan(cfg.model, cfg.gan_loss))
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save(2, state)
    _stop_if_diverged(jnp.array([True, True]), 3, checkpoints)          # finite: carries on
    with pytest.raises(TrainingDiverged, match="step 3 .* in the parameters.*step 2, is kept"):
        _stop_if_diverged(jnp.array([True, False]), 3, checkpoints)
    assert checkpoints.latest_step() == 2
    checkpoints.close()


def _snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_run_dir_in_use_is_refused_and_left_as_it_was(tmp_path, env):
    run_dir = tmp_path / "busy"
    (run_dir / ".hydra").mkdir(parents=True)
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):      # the holder's copies
        (run_dir / ".hydra" / name).write_text(f"the first writer's {name}\n")
    (run_dir / "meta_train.log").write_text("the first writer's log\n")
    with RunDirLock(run_dir):
        before = _snapshot(run_dir)
        result = _run([*TINY, "train.steps=2", "seed=7", f"hydra.run.dir={run_dir}"], tmp_path, env,
                      check=False)
        assert _snapshot(run_dir) == before
    assert result.returncode == 2
    assert "is being written by metagan pid" in result.stderr.strip().splitlines()[-1]
    with RunDirLock(run_dir):      # released by its holder: free again
        pass


@pytest.mark.slow
def test_a_small_multirun_sweep(tmp_path, env):
    _run(["-m", *TINY, "train.steps=2", "train.checkpoint_every=2", "seed=0,1",
          f"hydra.sweep.dir={tmp_path / 'sweep'}"], tmp_path, env)
    first, second = (_params(tmp_path / "sweep" / str(i)) for i in range(2))
    assert not np.allclose(jax.tree_util.tree_leaves(first)[0], jax.tree_util.tree_leaves(second)[0])


@pytest.mark.parametrize("preset, target", [("local_parallel", "JoblibLauncher"),
                                             ("slurm", "SlurmLauncher")])
def test_launcher_presets_compose(tmp_path, preset, target):
    result = subprocess.run(_command(f"launcher={preset}", "--cfg", "hydra"),
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert target in result.stdout
