"""The eval protocol: metrics against direct computations, the evaluator cache, the
adaptation trajectory, and `metagan eval` end to end through the real CLI."""
import json

import jax
import numpy as np
import pytest
from scipy import linalg

from metagan_cli.evaluation import metrics as M

from test_cli import TINY, metagan


def direct_kid(x, y):
    """Unbiased MMD^2 written out pair by pair (O(n^2) Python loops)."""
    d = x.shape[1]
    k = lambda a, b: (float(np.dot(a, b)) / d + 1.0) ** 3
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_is_unbiased_and_matches_the_direct_computation():
    rng = np.random.default_rng(0)
    same = [M.kid(rng.normal(size=(60, 8)), rng.normal(size=(50, 8))) for _ in range(40)]
    assert abs(np.mean(same)) < 0.02 and min(same) < 0 < max(same)   # unbiased: ~0, either sign
    shifted = M.kid(rng.normal(size=(60, 8)), rng.normal(0.7, 1.0, size=(50, 8)))
    assert shifted > 10 * np.std(same)
    x, y = rng.normal(size=(7, 5)), rng.normal(0.3, 1.2, size=(9, 5))
    assert M.kid(x, y) == pytest.approx(direct_kid(x, y), rel=1e-10)


def test_fid_is_zero_for_identical_sets_and_matches_the_gaussian_closed_form():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4))
    assert M.fid(x, x) == pytest.approx(0.0, abs=1e-6)
    y = rng.normal(1.0, 2.0, size=(300, 4)) @ np.diag([1.0, 0.5, 2.0, 1.0])
    mu1, mu2, c1, c2 = x.mean(0), y.mean(0), np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    closed = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * linalg.sqrtm(c1 @ c2).real)
    assert M.fid(x, y) == pytest.approx(closed, rel=1e-6)
    # isotropic Gaussians N(0, I) vs N(m, s^2 I) in d dims: |m|^2 + d (1 - s)^2
    big_x, big_y = rng.normal(size=(20000, 3)), rng.normal(0.5, 2.0, size=(20000, 3))
    assert M.fid(big_x, big_y) == pytest.approx(3 * 0.25 + 3 * 1.0, rel=0.03)


def test_diversity_and_memorisation_ratios_on_constructed_features():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(200, 6))
    assert M.diversity_ratio(rng.normal(size=(200, 6)), real) == pytest.approx(1.0, abs=0.05)
    assert M.diversity_ratio(0.5 * rng.normal(size=(200, 6)), real) == pytest.approx(0.5, abs=0.05)
    assert M.diversity_ratio(np.repeat(real[:1], 50, 0), real) == 0.0
    support, unseen = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    copies = support[np.arange(40) % 4]
    assert M.memorisation_ratio(copies, support, unseen) == pytest.approx(0.0, abs=1e-6)
    fresh = rng.normal(size=(400, 6))    # the class's distribution, independent of the shots
    assert M.memorisation_ratio(fresh, support, unseen) == pytest.approx(1.0, abs=0.15)
    near = support[np.arange(40) % 4] + 0.1 * rng.normal(size=(40, 6))
    assert M.memorisation_ratio(near, support, unseen) < 0.2


def test_prototype_classification_and_confidence_intervals():
    rng = np.random.default_rng(3)
    centres = np.eye(5) * 10
    queries = np.concatenate([c + rng.normal(size=(20, 5)) for c in centres])
    labels = np.repeat(np.arange(5), 20)
    assert np.mean(M.prototype_predict(queries, centres) == labels) == 1.0
    mixed = np.concatenate([c + 8 * rng.normal(size=(20, 5)) for c in centres])
    assert 0.2 < np.mean(M.prototype_predict(mixed, centres) == labels) < 0.95
    draws = rng.binomial(1, 0.6, size=4000).astype(float)
    widths = [M.mean_ci95(draws[:n])[1] for n in (25, 100, 400, 1600)]
    assert all(a > b for a, b in zip(widths, widths[1:]))
    assert widths[0] / widths[-1] == pytest.approx(8.0, rel=0.3)      # ~1/sqrt(n)
    assert M.mean_ci95([0.5])[1] == 0.0


def test_evaluator_cache_hit_returns_the_same_identity(tmp_path):
    from metagan_cli.evaluation.evaluator import load_or_train
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(4), 30).astype(np.int32)
    pixels = np.clip(rng.normal(60 * labels[:, None, None, None], 30, size=(120, 8, 8, 1)), 0, 255).astype(np.uint8)
    names = ["a", "b", "c", "d"]
    first = load_or_train(pixels, labels, names, (0, 1, 2), (3,), tmp_path, steps=20)
    again = load_or_train(pixels, labels, names, (0, 1, 2), (3,), tmp_path, steps=20)
    assert not first.from_cache and again.from_cache
    assert again.evaluator_id == first.evaluator_id and again.feature_scale == first.feature_scale
    images = pixels[:10].astype(np.float32) / 127.5 - 1
    np.testing.assert_array_equal(first.features(images), again.features(images))
    other_split = load_or_train(pixels, labels, names, (0, 1), (2, 3), tmp_path, steps=20)
    assert other_split.split_sha256 != first.split_sha256 and not other_split.from_cache


def test_one_trajectory_carries_the_optimiser_state_across_chunks():
    """Budget 2 read off a trajectory of two 1-step chunks (GAN and inner optimiser
    state carried between them) equals 2 steps adapted in one go with the same keys."""
    from helpers import tiny_config
    from metagan_cli.core.gan import Gan
    from metagan_cli.core.inner_loop import GanUpdates, scan_steps
    from metagan_cli.core.optim import make_inner_optimizer
    from metagan_cli.evaluation.baselines import Trajectory, chunk_plan
    assert chunk_plan([0, 1, 5, 10, 50], 10) == [[], [1], [1] * 4, [1] * 5, [10] * 4]
    cfg = tiny_config()
    gan = Gan(cfg.model, cfg.gan_loss)
    params = gan.init(jax.random.PRNGKey(0))
    support = jax.random.uniform(jax.random.PRNGKey(1), (4, 8, 8, 1), minval=-1, maxval=1)
    key = jax.random.PRNGKey(2)
    at0, at2 = Trajectory(cfg, gan, [0, 2], chunk=1).run(params, support, key)
    updates = GanUpdates(gan, make_inner_optimizer(cfg.inner_optim))
    lr = cfg.inner_optim.lr
    step = lambda c, k: updates.gan_step(c, support, k, cfg.algo.n_critic, {"g": lr, "d": lr})
    carry = (params["g"], params["d"], updates.tx.init(params["g"]), updates.tx.init(params["d"]))
    want = jax.jit(lambda c: scan_steps(step, c, jax.random.split(key, 2), cfg.loop)[0][0])(carry)
    for a, b in zip(jax.tree_util.tree_leaves(at0), jax.tree_util.tree_leaves(params["g"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(jax.tree_util.tree_leaves(at2), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(jax.tree_util.tree_leaves(at2)[0]),
                           np.asarray(jax.tree_util.tree_leaves(params["g"])[0]))


EVAL_TINY = ["eval.episodes=2", "eval.samples=8", "eval.budgets=[0,1,2]", "eval.chunk=1",
             "eval.real_images=40", "eval.classification_episodes=20", "eval.generated_per_class=4",
             "eval.grid_classes=2", "eval.grid_samples=4", "eval.evaluator_steps=30", "eval.ways=[2,5]"]


@pytest.mark.slow
def test_eval_end_to_end_writes_everything_and_repeats_exactly(tmp_path):
    cache = f"data.cache_dir={tmp_path / 'cache'}"
    metagan("meta-train", *TINY, "algo=scratch", cache, "hydra.run.dir=run", cwd=tmp_path)
    metagan("eval", "checkpoint=run", *EVAL_TINY, "hydra.run.dir=ev1", cwd=tmp_path)
    from metagan_cli.errors import UserError
    from metagan_cli.workflows.evaluate import evaluate
    with pytest.raises(UserError, match="needs 300"):     # in-process: a CLI start costs seconds
        evaluate(str(tmp_path / "run"), tmp_path / "ev0", {}, shots=150)
    out = metagan("eval", "checkpoint=run", *EVAL_TINY, "eval.baselines.pretrain=ev1/pretrain",
                  "hydra.run.dir=ev2", cwd=tmp_path)
    assert "not Inception" in out.stdout and "for evaluation only" in out.stdout
    first, second = (json.loads((tmp_path / d / "eval.json").read_text()) for d in ("ev1", "ev2"))
    assert first["records"] == second["records"]
    assert first["metadata"]["evaluator"]["id"] == second["metadata"]["evaluator"]["id"]
    assert second["metadata"]["evaluator"]["loaded_from_cache"]

    records, meta = first["records"], first["metadata"]
    # the evaluated run is algo=scratch: no duplicate scratch baseline
    assert meta["methods"] == ["scratch (evaluated)", "pretrain + fine-tune", "copy the shots"]
    assert {r["method"] for r in records} == set(meta["methods"]) | {"real shots only"}
    assert {r["adapt_steps"] for r in records} == {0, 1, 2}
    assert {r["class"] for r in records} == {"7", "8", "9", "all held-out"}
    metrics = {r["metric"] for r in records}
    assert metrics == {"kid", "fid", "recognisability", "recognisability_reference", "diversity",
                       "memorisation", "accuracy_2way", "accuracy_5way"}
    for r in records:
        assert {"method", "class", "shots", "adapt_steps", "metric", "value", "ci95"} <= set(r)
        assert np.isfinite(r["value"]) and r["shots"] == 4
    copies = [r for r in records if r["method"] == "copy the shots" and r["metric"] == "memorisation"]
    assert copies and all(r["value"] == 0.0 for r in copies)
    five = [r for r in records if r["metric"] == "accuracy_5way"]
    assert {r["ways"] for r in five} == {3}       # only 3 held-out digits, recorded as such
    assert meta["downstream"]["ways_used"] == {"2": 2, "5": 3}
    assert meta["seed"] == 0 and meta["samples_per_episode"] == 8 and "jax" in meta["versions"]
    assert len(meta["evaluator"]["weights_sha256"]) == 64

    ev = tmp_path / "ev1"
    header = (ev / "eval.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["method", "class", "shots", "adapt_steps", "metric", "value"]
    assert len((ev / "eval.csv").read_text().splitlines()) == len(records) + 1
    assert {p.name for p in (ev / "plots").iterdir()} == {f"{m}.png" for m in metrics}
    assert len(list((ev / "grids").glob("*.png"))) == 2
    report = (ev / "report.md").read_text()
    assert "not Inception-FID" in report and "comparable only" in report
    assert "only 3 held-out classes" in report and "pretrain + fine-tune" in report
    for link in ("plots/kid.png", "grids/class_7.png"):
        assert f"]({link})" in report


@pytest.mark.parametrize("args, message", [
    (["checkpoint=no/such/run"], "no such run dir"),
    (["checkpoint=x", "eval.baselines.nope=1"], "nope"),
])
def test_eval_user_errors_are_one_line(tmp_path, args, message):
    bad = metagan("eval", *args, cwd=tmp_path, check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert message in bad.stderr
