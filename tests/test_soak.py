"""scripts/soak.py's memory figures: what counts as warm, and the growth and slope."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from soak import memory_figures  # noqa: E402

sys.path.pop(0)


def test_growth_counts_from_warm_up_and_ignores_the_exit():
    # (seconds, step, MB): warm-up below step 100, a 10% rise, then the exit's release
    samples = [(0, 0, 100.0), (1, 50, 400.0), (2, 100, 500.0), (3, 400, 520.0),
               (4, 700, 550.0), (5, 900, 550.0), (6, 1000, 300.0)]
    got = memory_figures(samples, steps=1000, warmup=0.1)
    assert (got["warm_from_step"], got["rss_mb_first_warm"], got["rss_mb_max_warm"]) == (100, 500.0, 550.0)
    assert got["rss_growth_warm"] == 0.1 and got["rss_mb_last_warm"] == 550.0
    assert got["rss_mb_per_1000_steps_second_half"] == 0.0        # 700 -> 900: flat
    assert got["rss_mb_peak"] == 550.0


def test_a_steady_leak_shows_as_its_slope():
    samples = [(i, step, 800.0 + 0.002 * step) for i, step in enumerate(range(0, 20001, 500))]
    got = memory_figures(samples, steps=20000, warmup=0.1)
    assert got["rss_mb_per_1000_steps_second_half"] == 2.0
    assert got["rss_growth_warm"] > 0.04
