"""The eval protocol: metrics against direct computations, the evaluator cache, the
adaptation trajectory, and `metagan eval` end to end through the real CLI."""
import json
import shutil

import jax
import numpy as np
import pytest
from scipy import linalg

from metagan_cli.evaluation import metrics as M
from metagan_cli.evaluation import statistics as S

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
    widths = [S.interval(draws[:n]).half_width for n in (25, 100, 400, 1600)]
    assert all(a > b for a, b in zip(widths, widths[1:]))
    assert widths[0] / widths[-1] == pytest.approx(8.0, rel=0.3)      # ~1/sqrt(n)
    assert S.interval([0.5]).half_width is None


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
    from metagan_cli.core.loop_layout import LoopLayout
    from metagan_cli.core.optim import make_inner_optimizer
    from metagan_cli.evaluation.methods import Trajectory, chunk_plan
    assert chunk_plan([0, 1, 5, 10, 50], 10) == [[], [1], [1] * 4, [1] * 5, [10] * 4]
    cfg = tiny_config()
    gan = Gan(cfg.model, cfg.gan_loss)
    params = gan.init(jax.random.PRNGKey(0))
    support = jax.random.uniform(jax.random.PRNGKey(1), (4, 8, 8, 1), minval=-1, maxval=1)
    key = jax.random.PRNGKey(2)
    at0, at2 = Trajectory(cfg, gan, chunk=1).run(params, support, key, [0, 2])
    updates = GanUpdates(gan, make_inner_optimizer(cfg.inner_optim))
    lr = cfg.inner_optim.lr
    step = lambda c, k: updates.gan_step(c, support, k, cfg.algo.n_critic, {"g": lr, "d": lr})
    carry = (params["g"], params["d"], updates.tx.init(params["g"]), updates.tx.init(params["d"]))
    want = jax.jit(lambda c: scan_steps(step, c, jax.random.split(key, 2), LoopLayout(unroll=2))[0][0])(carry)
    for a, b in zip(jax.tree_util.tree_leaves(at0), jax.tree_util.tree_leaves(params["g"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(jax.tree_util.tree_leaves(at2), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(jax.tree_util.tree_leaves(at2)[0]),
                           np.asarray(jax.tree_util.tree_leaves(params["g"])[0]))


def test_samplers_at_two_temperatures_share_one_program_and_scale_z():
    """The evaluated run draws at its temperature and the baselines at 1: one compiled
    generator serves both, and each draws exactly what its own program would."""
    from helpers import tiny_config
    from metagan_cli.core.gan import Gan
    from metagan_cli.evaluation.methods import _sampler, sample_fn
    cfg = tiny_config()
    gan = Gan(cfg.model, cfg.gan_loss)
    g = gan.init(jax.random.PRNGKey(0))["g"]
    key = jax.random.PRNGKey(3)
    cold, hot = sample_fn(gan, 6, 1.0)(g, key, None), sample_fn(gan, 6, 1.5)(g, key, None)
    assert _sampler(gan, 6)._cache_size() == 1
    assert not np.allclose(np.asarray(cold), np.asarray(hot))
    z = gan.latents(key, 6, 1.5)
    np.testing.assert_allclose(np.asarray(hot), np.asarray(jax.jit(gan.generate)(g, z)), rtol=1e-6, atol=1e-6)


EVAL_TINY = ["eval.episodes=2", "eval.samples=8", "eval.budgets=[0,1,2]", "eval.chunk=1",
             "eval.real_images=40", "eval.grid_classes=2", "eval.grid_samples=4", "eval.evaluator_steps=30",
             "eval.classification.episodes=3", "eval.classification.generated_per_class=4",
             "eval.classification.ways=[2,5]", "eval.tuning.lrs=[0.0005,0.005]", "eval.tuning.samples=8",
             "eval.low_data.ks=[5]", "eval.low_data.generated=8", "eval.low_data.seeds=2",
             "eval.low_data.test_images=20", "eval.low_data.classifier_steps=60"]


@pytest.mark.slow
def test_eval_over_seeds_single_runs_and_refusals(tmp_path):
    """A sweep of two seeds evaluated at once: records per seed and over seeds, paired
    verdicts with Holm, classification episodes and the low-data table; the single-run
    eval of seed 0 gives exactly seed 0's records; runs of different configs or the
    same seed are refused in one line."""
    cache = f"data.cache_dir={tmp_path / 'cache'}"
    metagan("meta-train", "-m", *TINY, "algo=scratch", "seed=0,1", cache, "hydra.sweep.dir=sw", cwd=tmp_path)
    out = metagan("eval", "checkpoint=sw", *EVAL_TINY, "eval.low_data.augment_generated=true",
                  "eval.low_data.mix_augmented=true", "hydra.run.dir=ev", cwd=tmp_path)
    assert "not Inception" in out.stdout and "for evaluation only" in out.stdout and "seeds 0, 1" in out.stdout
    result = json.loads((tmp_path / "ev" / "eval.json").read_text())
    records, meta = result["records"], result["metadata"]
    assert [r["seed"] for r in meta["runs"]] == [0, 1] and meta["over_seeds"] == "seeds 0, 1"
    # the evaluated run is algo=scratch: no duplicate scratch baseline
    assert meta["methods"] == ["scratch (evaluated)", "pretrain + fine-tune", "copy the shots"]
    assert {r["run"] for r in records} == {"seed 0", "seed 1", "seeds 0, 1"}
    assert all(r["shots"] == 4 for r in records)
    values = [r for r in records if r["kind"] == "value"]
    paired = [r for r in records if r["kind"] == "paired"]
    over = [r for r in values if r["run"] == "seeds 0, 1"]
    # run-dependent figures vary over the 2 seeds; the copy of the shots is the same in every
    # run and keeps its within-run interval (over support sets)
    independent = {"copy the shots", "real shots only", "Standard (real only)", "traditional augmentation"}
    assert over and all(r["n"] == 2 and r["over"].startswith("meta-training seeds")
                        for r in over if r["method"] not in independent)
    assert all("same in every run" in r["over"] for r in over if r["method"] in independent)
    assert all(r["n"] == 6 for r in over if r["method"] == "copy the shots" and r["stage"] == "generation")
    pooled = [r for r in values if r["run"] == "seed 0" and r["stage"] == "generation" and r["class"] == "all held-out"]
    assert pooled and all(r["n"] == 6 for r in pooled)                 # 3 classes x 2 episodes
    per_class = [r for r in values if r["run"] == "seed 0" and r["class"] == "7"]
    assert per_class and all(r["n"] == 2 for r in per_class)
    assert {r["metric"] for r in values if r["stage"] == "generation"} == {
        "kid", "fid", "recognisability", "recognisability_reference", "diversity", "memorisation"}
    for r in paired:
        assert r["test"] and 0 <= r["p_value"] <= 1 and r["p_value"] <= r["p_holm"] <= 1
        assert r["verdict"] in ("better", "worse", "no clear difference") and r["comparisons"] > 1
    # classification: 2-way episodes, and one all-held-out figure instead of "5-way" of 3 classes
    acc = {r["metric"] for r in values if r["stage"] == "classification"}
    assert acc == {"accuracy_2way", "accuracy_all_3way"}
    assert all(r["n"] == 3 for r in values if r["stage"] == "classification" and r["run"] == "seed 0")
    # the low-data table: Standard, augmentation, every method; gains paired by classifier seed
    low = {r["method"] for r in values if r["stage"] == "low_data" and r["run"] == "seed 0"}
    assert low == {"Standard (real only)", "traditional augmentation", "scratch (evaluated)",
                   "pretrain + fine-tune", "copy the shots", "scratch (evaluated) + traditional augmentation",
                   "half scratch (evaluated), half traditional augmentation"}
    gains = [r for r in paired if r["stage"] == "low_data" and r["run"] == "seed 0"]
    assert gains and all(r["n"] == 2 for r in gains)
    # each row against Standard; the evaluated method, alone, augmented and mixed with
    # augmentation, also against traditional augmentation
    assert {(r["method"], r["baseline"]) for r in gains} == {
        *((row, "Standard (real only)") for row in low - {"Standard (real only)"}),
        ("scratch (evaluated)", "traditional augmentation"),
        ("scratch (evaluated) + traditional augmentation", "traditional augmentation"),
        ("half scratch (evaluated), half traditional augmentation", "traditional augmentation")}
    beat = [r for r in paired if r["stage"] == "low_data" and r["baseline"] == "traditional augmentation"]
    assert {r["run"] for r in beat} == {"seed 0", "seed 1", "seeds 0, 1"}
    assert set(meta["baseline_tuning"]) == {"pretrain + fine-tune"}
    search = meta["baseline_tuning"]["pretrain + fine-tune"]
    assert search["on"] == ["6"] and len(search["search"]) == 2      # chosen on the validation digit

    ev = tmp_path / "ev"
    assert len((ev / "eval.csv").read_text().splitlines()) == len(records) + 1
    assert {p.name for p in (ev / "plots").iterdir()} == {
        f"{m}.png" for m in ("kid", "fid", "recognisability", "recognisability_reference", "diversity",
                             "memorisation")}
    assert len(list((ev / "grids").glob("*.png"))) == 2
    report = (ev / "report.md").read_text()
    for words in ("not Inception-FID", "comparable only", "Holm", "Student's t", "low-data protocol",
                  "F2GAN", "all held-out, 3-way", "Per seed", "pretrain + fine-tune",
                  "Against traditional augmentation", "each shifted, rotated and scaled once",
                  "half the generator's, half traditional augmentation's"):
        assert words in report, words
    for link in ("plots/kid.png", "grids/class_7.png"):
        assert f"]({link})" in report

    # one run dir alone: as before, and exactly seed 0's numbers of the eval over seeds (a
    # budget to choose on one validation class is no choice: the run's own budget stays)
    metagan("eval", "checkpoint=sw/0", *EVAL_TINY, "eval.low_data.choose_budget=[0,1]",
            "eval.low_data.augment_generated=true", "eval.low_data.mix_augmented=true", "hydra.run.dir=ev0",
            cwd=tmp_path)
    single = json.loads((tmp_path / "ev0" / "eval.json").read_text())
    assert single["records"] == [r for r in records if r["run"] == "seed 0"]
    assert single["metadata"]["low_data"]["chosen_budgets"] == {"seed 0": {}}
    assert "too few validation classes" in (tmp_path / "ev0" / "report.md").read_text()

    from metagan_cli.errors import UserError
    from metagan_cli.workflows.common import load_run
    from metagan_cli.workflows.evaluate import _Pretrained, evaluate, load_runs
    # eval.baselines.pretrain=<an earlier eval dir>: its pretrain runs, matched by seed
    runs = load_runs(str(tmp_path / "sw"))
    given = _Pretrained(str(ev), tmp_path / "unused", several=True)
    for run in runs:
        params, info = given.for_run(run)
        want = load_run(ev / f"pretrain_seed{run.cfg.seed}")[4]
        assert info["run_dir"] == str(ev / f"pretrain_seed{run.cfg.seed}") and info["seed"] == run.cfg.seed
        for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves({"g": want["g"], "d": want["d"]})):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    shutil.copytree(ev / "pretrain_seed0", tmp_path / "only0" / "pretrain_seed0")
    with pytest.raises(UserError, match="no run with seed=1"):
        _Pretrained(str(tmp_path / "only0"), tmp_path / "unused", several=True).for_run(runs[1])
    assert not (tmp_path / "unused").exists()
    with pytest.raises(UserError, match="needs 300"):     # in-process: a CLI start costs seconds
        evaluate(str(tmp_path / "sw" / "0"), tmp_path / "bad", {}, shots=150)
    with pytest.raises(UserError, match="two runs have seed=0"):
        load_runs([str(tmp_path / "sw" / "0"), str(tmp_path / "sw" / "0")])
    metagan("meta-train", *TINY, "algo=scratch", "model.width=16", "seed=2", cache, "hydra.run.dir=wide",
            cwd=tmp_path)
    bad = metagan("eval", "checkpoint=[sw/0,wide]", cwd=tmp_path, check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "differ in model.width" in bad.stderr


@pytest.mark.slow
def test_baselines_fine_tune_every_parameter_unless_asked_to_adapt_as_the_run(tmp_path):
    """A run that adapts only G's norms: its scratch baseline fine-tunes every parameter
    (eval.baselines.adapt=all, the default) or only the norms too (run); the evaluated
    method's numbers are the same either way."""
    cache = f"data.cache_dir={tmp_path / 'cache'}"
    metagan("meta-train", *TINY, "algo.adapt_g=norm", cache, "hydra.run.dir=run", cwd=tmp_path)
    quick = [*EVAL_TINY, "eval.baselines.pretrain=off", "eval.tuning.lrs=[]", "eval.classification.episodes=0"]
    generation = {}
    for adapt in ("all", "run"):
        metagan("eval", "checkpoint=run", *quick, f"eval.baselines.adapt={adapt}", f"hydra.run.dir=ev_{adapt}",
                cwd=tmp_path)
        result = json.loads((tmp_path / f"ev_{adapt}" / "eval.json").read_text())
        generation[adapt] = {(r["method"], r["metric"], r["adapt_steps"]): r["value"] for r in result["records"]
                             if r["kind"] == "value" and r["stage"] == "generation" and r["class"] == "all held-out"}
        report = (tmp_path / f"ev_{adapt}" / "report.md").read_text()
        assert "adapts partially: algo.freeze_d=0, algo.adapt_g=norm; draws z ~ N(0, 1^2)" in report
        baselines = "every parameter" if adapt == "all" else "partially: algo.freeze_d=0, algo.adapt_g=norm"
        assert f"adapts {baselines} (eval.baselines.adapt)" in report
    mine = lambda adapt: {k: v for k, v in generation[adapt].items() if k[0] != "scratch"}
    assert mine("all") == mine("run")
    scratch = lambda adapt, steps: [v for k, v in generation[adapt].items() if k[0] == "scratch" and k[2] == steps]
    assert scratch("all", 0) == scratch("run", 0)           # the same fresh initialisation
    assert scratch("all", 2) != scratch("run", 2)           # moved differently


@pytest.mark.parametrize("args, message", [
    (["checkpoint=no/such/run"], "no such run dir"),
    (["checkpoint=x", "eval.baselines.nope=1"], "nope"),
    (["checkpoint=x", "eval.baselines.adapt=some"], "eval.baselines.adapt must be one of all, run; got 'some'"),
])
def test_eval_user_errors_are_one_line(tmp_path, args, message):
    bad = metagan("eval", *args, cwd=tmp_path, check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert message in bad.stderr


def test_classification_episodes_draw_their_own_support_and_query_sets():
    from metagan_cli.evaluation.protocol import Context, classification_episode, way_label
    labels = np.repeat(np.arange(6), 30)
    ctx = Context(np.zeros((180, 8, 8, 1), np.uint8), labels, [str(c) for c in range(6)], None, None,
                  jax.random.PRNGKey(0))
    classes = (2, 3, 4, 5)
    supports = []
    for e in range(20):
        draw = classification_episode(jax.random.fold_in(jax.random.PRNGKey(1), e), ctx, classes, 2, 4, 5)
        assert len(draw) == 2 and len({c for c, _, _ in draw}) == 2
        for c, support, queries in draw:
            assert np.all(labels[support] == c) and np.all(labels[queries] == c)
            assert len(support) == 4 and len(queries) == 5 and not set(support) & set(queries)
            supports.append((c, tuple(sorted(support))))
    assert len(set(supports)) == len(supports)          # no support set is reused across episodes
    everything = classification_episode(jax.random.PRNGKey(2), ctx, classes, 20, 4, 5)
    assert [c for c, _, _ in everything] == list(classes)
    assert way_label(2, 4) == "2way" and way_label(4, 4) == way_label(20, 4) == "all_4way"


def test_a_registered_metric_is_measured_and_described():
    from metagan_cli.evaluation.metrics import REGISTRY, Metric, Read, describe, generation_metrics, register
    try:
        register(Metric("mean_brightness", "mean brightness", "higher", "mean pixel value",
                        lambda r: float(np.mean(r.images))))
        assert "mean_brightness" in [m.name for m in generation_metrics(with_reference=False)]
        assert "recognisability_reference" not in [m.name for m in generation_metrics(with_reference=False)]
        read = Read(*(np.zeros((2, 3)),) * 5, 0, np.ones((2, 4, 4, 1)))
        assert describe("mean_brightness").measure(read) == 1.0
        assert describe("memorisation").better.startswith("higher is better up to 1")
        with pytest.raises(ValueError, match="direction"):
            register(Metric("bad", "bad", "sideways", ""))
    finally:
        REGISTRY.pop("mean_brightness", None)


def test_the_low_data_budget_is_chosen_per_method_on_validation_classes():
    """Two stand-in generators, each faithful at its own budget and mislabelling (its
    images look like another class) at the other: each gets its faithful budget."""
    import dataclasses
    from metagan_cli.config import LowDataConfig
    from metagan_cli.evaluation import protocol as P
    from metagan_cli.evaluation.tuning import choose_low_data_budgets

    @dataclasses.dataclass
    class FaithfulAt(P.Method):
        faithful: int = 0

        def images(self, support, keys, budgets, n, sample):
            shots = np.resize(np.asarray(support), (n, *np.shape(support)[1:]))
            return [shots if b == self.faithful else np.roll(shots, 8, axis=1) for b in budgets]

    rng = np.random.default_rng(0)
    pixels, labels = [], []
    for c, (r, q) in enumerate([(0, 0), (0, 8), (8, 0), (8, 8)]):    # one bright quadrant per class
        images = rng.integers(0, 60, (20, 16, 16, 1))
        images[:, r:r + 8, q:q + 8] += 180
        pixels.append(images.astype(np.uint8))
        labels += [c] * 20
    ctx = P.Context(np.concatenate(pixels), np.asarray(labels), list("abcd"), None, None, jax.random.key(0))
    cfg = LowDataConfig(ks=(5,), generated=20, seeds=2, classifier_steps=150, choose_budget=(0, 5))
    trajectory = object()                                            # adapts (the copy baseline has none)
    methods = [FaithfulAt("at 0", trajectory=trajectory, faithful=0),
               FaithfulAt("at 5", trajectory=trajectory, faithful=5, budget=10), P.Method("copy")]
    chosen, search = choose_low_data_budgets(ctx, methods, cfg, [0, 1, 2, 3], shots=4, seed=0)
    assert chosen == {"at 0": 0, "at 5": 5}
    assert search["k"] == 5 and search["on"] == [0, 1, 2, 3]
    for name, good, bad in (("at 0", 0, 5), ("at 5", 5, 0)):
        assert search["accuracy"][name][good] > search["accuracy"][name][bad] + 20
    assert choose_low_data_budgets(ctx, methods, cfg, [], shots=4, seed=0) == ({}, {})
    off = dataclasses.replace(cfg, choose_budget=())
    assert choose_low_data_budgets(ctx, methods, off, [0, 1, 2, 3], shots=4, seed=0) == ({}, {})


def test_a_chosen_and_a_fixed_low_data_budget_together_are_refused():
    from metagan_cli.config import ConfigError, eval_config
    with pytest.raises(ConfigError, match=r"^eval\.low_data\.budget=3 and eval\.low_data\.choose_budget=\[0, 10\] "
                                          r"both set the low-data budget; keep one"):
        eval_config({"low_data": {"budget": 3, "choose_budget": [0, 10]}})
    assert eval_config({"low_data": {"choose_budget": [0, 10]}}).low_data.choose_budget == (0, 10)
