"""The eval's statistics: t intervals for the real n, paired differences that cover a
known effect at the nominal rate, Holm's adjustment, and the records built on them."""
import numpy as np
import pytest
from scipy import stats

from metagan_cli.evaluation import statistics as S
from metagan_cli.evaluation import summary


def test_two_values_use_t1_not_the_normal_quantile():
    assert S.t_quantile(2) == pytest.approx(12.706, abs=1e-3)
    assert S.t_quantile(6) == pytest.approx(2.571, abs=1e-3)
    iv = S.interval([1.0, 2.0])
    assert iv.n == 2 and iv.mean == 1.5
    assert iv.half_width == pytest.approx(12.706 * np.std([1, 2], ddof=1) / np.sqrt(2), rel=1e-4)
    assert S.interval([3.0]).half_width is None            # one value: no interval, not +-0
    assert S.interval([np.nan, 1.0, 3.0]).n == 2            # NaN (not applicable) is not counted


def test_paired_interval_covers_a_known_difference_at_the_nominal_rate():
    """Two methods measured on the same units: a large shared unit effect, a true
    difference of 0.3 and small independent noise.  The 95% paired t interval must
    cover 0.3 in about 95% of experiments (n = 6, as for 3 classes x 2 episodes), and
    be far narrower than unpaired intervals would be."""
    rng = np.random.default_rng(0)
    delta, n, trials = 0.3, 6, 4000
    covered, widths, unpaired = 0, [], []
    for _ in range(trials):
        unit = rng.normal(0, 5.0, n)                       # support-set difficulty, shared
        a = unit + delta + rng.normal(0, 0.4, n)
        b = unit + rng.normal(0, 0.4, n)
        p = S.paired(a, b)
        covered += abs(p.difference - delta) <= p.half_width
        widths.append(p.half_width)
        unpaired.append(S.interval(a).half_width + S.interval(b).half_width)
    rate = covered / trials
    assert 0.935 <= rate <= 0.965, rate
    assert np.median(widths) < 0.2 * np.median(unpaired)


def test_paired_p_value_matches_scipy_and_the_degenerate_cases():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=8), rng.normal(0.5, 1, size=8)
    assert S.paired(a, b).p_value == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-10)
    same = S.paired([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same.difference == 0.0 and same.p_value == 1.0
    shifted = S.paired([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])   # always exactly 1 better
    assert shifted.difference == 1.0 and shifted.p_value == 0.0


def test_holm_against_hand_computed_adjustments():
    p = [0.01, 0.04, 0.03, 0.005, np.nan]
    # sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> max(0.06, 0.04)
    np.testing.assert_allclose(S.holm(p)[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(S.holm(p)[4])
    assert S.holm([0.9, 0.8])[0] == 1.0                     # capped at 1


def test_verdicts_follow_each_metrics_direction():
    def verdict(metric, a, b):
        records = [summary.paired_record("seed 0", "generation", "m", "b", metric, 10, a, b, "units")]
        summary.apply_holm(records)
        return records[0]
    low = verdict("kid", [0.1, 0.2, 0.15, 0.12], [1.1, 1.3, 1.0, 1.2])
    assert low["verdict"] == "better" and low["difference"] < 0 and low["comparisons"] == 1
    assert verdict("recognisability", [0.1, 0.2, 0.15, 0.12], [0.9, 0.95, 0.92, 0.91])["verdict"] == "worse"
    # diversity: closer to 1 is better, whichever side
    assert verdict("diversity", [1.05, 0.97, 1.02, 0.99], [0.3, 0.25, 0.35, 0.31])["verdict"] == "better"
    # memorisation above 1 is no better than 1: a tie, not a win
    tie = verdict("memorisation", [1.4, 1.5, 1.3, 1.45], [1.0, 1.0, 1.0, 1.0])
    assert tie["difference"] == 0.0 and tie["verdict"] == "no clear difference"


def test_over_seeds_a_figure_the_same_in_every_run_keeps_its_within_run_interval():
    """Standard and traditional augmentation do not depend on the meta-trained run: over
    seeds their spread is zero, so their record stays the run's own (over classifier
    seeds), never a zero-width interval with a verdict; run-dependent rows vary."""
    from metagan_cli.evaluation.summary import across_runs, low_data_records
    per_run = []
    for seed in range(3):
        rows = {(5, "Standard (real only)"): np.array([0.70, 0.74, 0.72]),
                (5, "traditional augmentation"): np.array([0.71, 0.73, 0.75]),
                (5, "reptile (evaluated)"): np.array([0.70, 0.72, 0.74]) + 0.01 * seed}
        per_run.append(low_data_records(f"seed {seed}", rows))
    over = {(r["kind"], r["method"]): r for r in across_runs("seeds 0, 1, 2", per_run)}
    aug = over[("paired", "traditional augmentation")]
    assert aug["n"] == 3 and aug["ci95"] > 0 and aug["over"].startswith("classifier seeds")
    assert aug["verdict"] == "no clear difference"
    standard = over[("value", "Standard (real only)")]
    assert standard["ci95"] > 0 and "same in every run" in standard["over"]
    evaluated = over[("value", "reptile (evaluated)")]
    assert evaluated["over"].startswith("meta-training seeds") and evaluated["n"] == 3
