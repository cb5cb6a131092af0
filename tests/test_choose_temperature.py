"""scripts/choose_temperature.py: the rule that picks the sampling temperature on
validation classes."""
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "choose_temperature.py"
spec = importlib.util.spec_from_file_location("choose_temperature", SCRIPT)
choose_temperature = importlib.util.module_from_spec(spec)
spec.loader.exec_module(choose_temperature)


def figures(memorisation, diversity, gain):
    return {"budgets": {0: {"memorisation": memorisation, "diversity": diversity,
                            "recognisability": 0.8, "kid": 0.7}},
            "low_data minus Standard (real only)": gain}


def test_the_best_low_data_gain_among_the_temperatures_that_meet_the_targets():
    split_a = {1.0: figures(0.75, 1.1, 18.0),    # memorisation under 0.8
               1.5: figures(0.84, 1.25, 17.0),
               2.0: figures(0.86, 1.28, 18.5),
               3.0: figures(0.95, 1.50, 30.0)}   # diversity above 1.3
    split_b = {1.0: figures(0.77, 1.1, 18.0), 1.5: figures(0.82, 1.2, 17.0),
               2.0: figures(0.84, 1.3, 17.5), 3.0: figures(0.9, 1.4, 30.0)}
    chosen, table = choose_temperature.choose({"a": split_a, "b": split_b}, 0.8, (0.7, 1.3))
    # 1.0 keeps too close to the shots (0.76), 3.0 spreads too far (1.45): of 1.5 and 2.0
    # the higher mean gain over both splits (17.0 and 18.0)
    assert chosen == 2.0
    assert table[2.0]["memorisation @0"] == pytest.approx(0.85)


def test_no_temperature_meets_the_targets():
    chosen, _ = choose_temperature.choose({"a": {1.0: figures(0.7, 1.0, 10.0)}}, 0.8, (0.7, 1.3))
    assert chosen is None


def test_evals_of_held_out_classes_are_refused(tmp_path):
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "eval.json").write_text(json.dumps(
        {"records": [], "metadata": {"classes_measured": "held_out"}}))
    with pytest.raises(SystemExit, match="choose on eval.classes=validation only"):
        choose_temperature.read_sweep(tmp_path)
