"""scripts/discriminator_ranking.py: whether a run's D ranks its recognisable samples
first, on a tiny run of the real CLI."""
import importlib.util
from pathlib import Path

import pytest

from test_cli import TINY, metagan

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "discriminator_ranking.py"
spec = importlib.util.spec_from_file_location("discriminator_ranking", SCRIPT)
discriminator_ranking = importlib.util.module_from_spec(spec)
spec.loader.exec_module(discriminator_ranking)


@pytest.mark.slow
def test_the_halves_split_the_samples_and_bad_arguments_are_refused(tmp_path, capsys):
    metagan("meta-train", *TINY, "model=warp", "hydra.run.dir=runs/train", cwd=tmp_path)
    run = tmp_path / "runs" / "train"
    out = discriminator_ranking.ranking(str(run), "held_out", samples=8, support_sets=2,
                                        eval_values={"evaluator_steps": 30})
    assert out["class_count"] == 3 and out["support_sets"] == 2 and out["samples"] == 8
    shares = [out[k] for k in ("recognised_all", "recognised_top_half_by_d", "recognised_bottom_half_by_d")]
    assert all(0.0 <= v <= 1.0 for v in shares)
    # the two halves are the same size and split every sample, so the whole is their mean
    assert shares[0] == pytest.approx((shares[1] + shares[2]) / 2, abs=1e-12)
    assert out["correlation_d_recognised"] is None or -1.0 <= out["correlation_d_recognised"] <= 1.0
    with pytest.raises(SystemExit) as refused:
        discriminator_ranking.main([str(run), "--samples", "7"])
    assert refused.value.code == 2 and "--samples must be even" in capsys.readouterr().err
    assert discriminator_ranking.main([str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
