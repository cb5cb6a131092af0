"""The benchmark's model and loop structure: the reference architecture is the PyTorch
reference's model (same parameters, same function), the matmul convolutions compute the
same sums as XLA's, 'auto' resolves per backend, and scripts/bench.py runs and prints its fields."""
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metagan_cli.config import (ConfigError, GanLossConfig, LoopConfig, MetaLearnConfig,
                                ModelConfig, TaskConfig, validate)
from metagan_cli.core.gan import Gan
from metagan_cli.core.loop_layout import resolve_layout, resolve_unroll
from metagan_cli.core.models.layers import Conv, ConvTranspose4x4s2

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
REFERENCE = ModelConfig(arch="reference", image_size=28, z_dim=100, width=64, norm="none")
tree_close = lambda a, b, **kw: jax.tree_util.tree_map(
    lambda x, y: np.testing.assert_allclose(x, y, **kw), a, b)


def _torch_reference_parameter_count(z=100, ch=64) -> int:
    """nn.Linear(z, 2ch*7*7), ConvTranspose2d(2ch, ch, 4), ConvTranspose2d(ch, 1, 4);
    Conv2d(1, ch, 4), Conv2d(ch, 2ch, 4), Linear(2ch*7*7, 1): weights + biases."""
    linear = lambda i, o: i * o + o
    conv = lambda i, o, k=4: i * o * k * k + o
    gen = linear(z, 2 * ch * 49) + conv(2 * ch, ch) + conv(ch, 1)
    disc = conv(1, ch) + conv(ch, 2 * ch) + linear(2 * ch * 49, 1)
    return gen + disc


def test_reference_model_has_the_reference_parameter_count_and_shapes():
    gan = Gan(REFERENCE, GanLossConfig())
    params = jax.eval_shape(gan.init, jax.random.PRNGKey(0))          # shapes only
    count = sum(x.size for x in jax.tree_util.tree_leaves(params))
    assert count == _torch_reference_parameter_count() == 904_194
    images = jax.eval_shape(lambda p: gan.sample(p, jax.random.PRNGKey(1), 3), params["g"])
    logits = jax.eval_shape(lambda p: gan.discriminate(p, jnp.zeros((3, 28, 28, 1)))[0], params["d"])
    assert images.shape == (3, 28, 28, 1) and logits.shape == (3,)


@pytest.mark.parametrize("impl", ["xla", "matmul"])
def test_conv_transpose_is_a_stride_2_transposed_convolution(impl):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 6, 3))
    kernel = jax.random.normal(jax.random.PRNGKey(1), (4, 4, 3, 4))
    bias = jnp.arange(4.0)
    out = ConvTranspose4x4s2(4, impl).apply({"params": {"kernel": kernel, "bias": bias}}, x)
    # PyTorch's ConvTranspose2d(k=4, s=2, p=1): out[o] += x[i] w[k] for o = 2i - 1 + k,
    # i.e. the input dilated by 2, padded by k - 1 - p = 2, correlated with the flipped kernel
    expected = jax.lax.conv_general_dilated(x, kernel[::-1, ::-1], (1, 1), ((2, 2), (2, 2)),
                                            lhs_dilation=(2, 2),
                                            dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias
    assert out.shape == (2, 10, 12, 4)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel, strides, padding, size", [
    ((4, 4), (2, 2), ((1, 1), (1, 1)), 8), ((3, 3), (1, 1), "SAME", 8), ((4, 4), (2, 2), "SAME", 8),
    ((3, 3), (1, 1), "VALID", 7), ((2, 3), (1, 1), "SAME", 5), ((3, 3), (2, 2), "SAME", 7)])
def test_matmul_convolution_equals_xla_convolution(kernel, strides, padding, size):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, 3))
    params = Conv(5, kernel, strides, padding, "xla").init(jax.random.PRNGKey(1), x)
    fast = lambda p: Conv(5, kernel, strides, padding, "matmul").apply(p, x)
    slow = lambda p: Conv(5, kernel, strides, padding, "xla").apply(p, x)
    np.testing.assert_allclose(jax.jit(fast)(params), jax.jit(slow)(params), rtol=1e-5, atol=1e-5)
    loss = lambda f: lambda p: jnp.sum(jnp.sin(f(p)))
    tree_close(jax.jit(jax.grad(loss(fast)))(params), jax.jit(jax.grad(loss(slow)))(params),
               rtol=1e-4, atol=1e-4)


@pytest.mark.slow    # the quick loop's time (README)
def test_default_model_is_the_same_function_with_matmul_convolutions(size=16):
    """model.conv changes how the dcgan model computes, not what: same parameters, same
    samples, logits and gradients."""
    xla, matmul = (Gan(ModelConfig(image_size=size, width=16, conv=c), GanLossConfig())
                   for c in ("xla", "matmul"))
    params = xla.init(jax.random.PRNGKey(0))
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(
        matmul.init(jax.random.PRNGKey(0)))
    key = jax.random.PRNGKey(1)
    sample = lambda gan: jax.jit(lambda g: gan.sample(g, key, 3))(params["g"])
    np.testing.assert_allclose(sample(xla), sample(matmul), rtol=1e-4, atol=1e-5)
    images = jax.random.uniform(jax.random.PRNGKey(2), (3, size, size, 1), minval=-1, maxval=1)
    loss = lambda gan: lambda p: jnp.sum(gan.discriminate(p["d"], gan.sample(p["g"], key, 3))[0]
                                         + gan.discriminate(p["d"], images)[0] ** 2)
    tree_close(jax.jit(jax.grad(loss(matmul)))(params), jax.jit(jax.grad(loss(xla)))(params),
               rtol=1e-3, atol=1e-4)


def test_image_size_28_needs_the_reference_model():
    base = MetaLearnConfig(task=TaskConfig(image_size=28), model=REFERENCE)
    validate(base)
    with pytest.raises(ConfigError, match="model=reference"):
        validate(dataclasses.replace(base, model=ModelConfig(image_size=28)))
    with pytest.raises(ConfigError, match="task.image_size=28"):
        validate(MetaLearnConfig(task=TaskConfig(image_size=32),
                                 model=dataclasses.replace(REFERENCE, image_size=32)))


def test_auto_loop_structure_per_backend_and_model():
    auto = LoopConfig()
    # both shipped models compute their convolutions as matmuls on CPU: rolled loops
    for model in (ModelConfig(), REFERENCE):
        assert resolve_layout(auto, model, 10, backend="cpu").as_dict("cpu") == {
            "backend": "cpu", "scan_unroll": 1, "task_batching": "map", "remat": "none"}
    xla = ModelConfig(conv="xla")        # XLA's convolutions: short loops unrolled on CPU
    assert resolve_layout(auto, xla, 10, backend="cpu").as_dict("cpu") == {
        "backend": "cpu", "scan_unroll": 10, "task_batching": "unrolled", "remat": "none"}
    assert resolve_layout(auto, ModelConfig(), 10, backend="gpu").task_batching == "vmap"
    assert resolve_unroll(auto.scan_unroll, 10, "gpu", fast=False) == 1
    assert resolve_layout(auto, REFERENCE, 10, backend="gpu").unroll == 1
    auto_remat = dataclasses.replace(auto, remat="auto")
    assert resolve_layout(auto_remat, REFERENCE, 10, second_order=False).remat == "none"
    assert resolve_layout(auto_remat, REFERENCE, 100, second_order=True).remat == "nested"


def test_bench_smoke(capsys):
    sys.path.insert(0, str(SCRIPTS))
    try:
        import bench
    finally:
        sys.path.remove(str(SCRIPTS))
    bench.main(["--algo", "reptile", "--inner-steps", "1", "--meta-batch", "1", "--batch", "2",
                "--channels", "4", "--z-dim", "4", "--steps", "1"])
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for field in ("algo", "inner_steps", "meta_batch", "batch", "first_step_s", "meta_step_s",
                  "inner_steps_per_s", "peak_bytes", "peak_rss_mb", "loop"):
        assert field in record, field
    assert record["impl"] == "jax" and record["algo"] == "reptile" and record["inner_steps_per_s"] > 0
    assert bench.model_flops_per_inner_step(8) > 1e9


@pytest.mark.parametrize("separate", [[], pytest.param(["--separate"], marks=pytest.mark.slow)],
                         ids=["jax_in_process", "separate"])     # separate: starts two Python processes
def test_bench_compare_alternates_rounds_and_records_the_hosts_speed(tmp_path, capsys, separate):
    """--compare's harness, with a stand-in for the PyTorch script (any script printing
    the reference's JSON line): the ratio of medians, per-round ratios and host probes;
    with --separate the JAX side of each round runs in its own process."""
    fake = tmp_path / "reference.py"
    fake.write_text("import json\nprint(json.dumps({'impl': 'torch', 'meta_step_s': 0.5, "
                    "'first_step_s': 1.0}))\n")
    sys.path.insert(0, str(SCRIPTS))
    try:
        import bench
    finally:
        sys.path.remove(str(SCRIPTS))
    bench.main(["--algo", "reptile", "--inner-steps", "1", "--meta-batch", "1", "--batch", "2",
                "--channels", "4", "--z-dim", "4", "--steps", "1", "--compare", "--rounds", "2",
                "--reference", str(fake), *separate])
    records = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    rounds = [r for r in records if "round" in r]
    assert [r["round"] for r in rounds] == [0, 1]
    assert all(len(r["host_gflop_per_s"]) == 2 and min(r["host_gflop_per_s"]) > 0 for r in rounds)
    ratio = records[-1]
    assert ratio["impl"] == "ratio" and len(ratio["speedup_per_round"]) == 2
    assert ratio["separate"] == bool(separate)
    jax_record = next(r for r in records if r.get("impl") == "jax")
    assert jax_record["loop"] and jax_record["inner_steps_per_s"] > 0
    # the stand-in takes 0.5 s per step, the tiny JAX step far less
    assert min(ratio["speedup_per_round"]) <= ratio["speedup"] <= max(ratio["speedup_per_round"])
    assert ratio["speedup"] > 1


@pytest.mark.slow      # profiles a compiled meta-step
def test_bench_profile_lists_ops_and_the_matmul_share():
    """In its own process: a profiler trace must not stay attached to the test run."""
    import subprocess
    out = subprocess.run([sys.executable, str(SCRIPTS / "bench.py"), "--algo", "fomaml",
                          "--inner-steps", "1", "--meta-batch", "1", "--batch", "2", "--channels", "4",
                          "--z-dim", "4", "--profile", "3"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    rows = [json.loads(line) for line in out.strip().splitlines()]
    ops = [r for r in rows if r["impl"] == "profile"]
    assert 0 < len(ops) <= 3 and all(r["ms_per_step"] >= 0 for r in ops)
    assert rows[-1]["impl"] == "profile_summary" and 0 < rows[-1]["matmul_share"] <= 1


@pytest.mark.slow
def test_matrix_short_first_steps_stay_within_3x_their_budget():
    """A guard against compile-time regressions (not a timing claim: docs/BENCHMARKS.md
    has the figures): every algorithm's meta-step and `adapt` on the digits task, each in a
    fresh process with no compilation cache, reach their first step within 3x the budget."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        from bench_matrix import PROGRAMS
    finally:
        sys.path.remove(str(SCRIPTS))
    # every algorithm and `adapt`; an eval chunk is the same adaptation loop and Meta-SGD
    # maml's program with its rates (--matrix times both)
    programs = [p for p in PROGRAMS if p not in ("eval_chunk", "meta_sgd")]
    out = subprocess.run([sys.executable, str(SCRIPTS / "bench.py"), "--matrix", "short",
                          "--first-steps-only", "--programs", ",".join(programs)],
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr
    cells = [json.loads(line) for line in out.stdout.splitlines()][1:]
    assert [c["program"] for c in cells] == programs
    for cell in cells:
        assert "error" not in cell, cell
        assert cell["first_step_s"] <= 3 * cell["budget_s"], cell
