"""scripts/low_data_table.py: the low-data rows of several evals side by side."""
import importlib.util
import json
from pathlib import Path

import pytest

from metagan_cli.evaluation.protocol import AUGMENTED, STANDARD

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "low_data_table.py"
spec = importlib.util.spec_from_file_location("low_data_table", SCRIPT)
low_data_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(low_data_table)


def record(run, kind, method, figure, baseline=None, k=5, cls="all held-out"):
    key = "value" if kind == "value" else "difference"
    return {"run": run, "stage": "low_data", "kind": kind, "method": method, "baseline": baseline,
            "class": cls, "metric": f"low_data_k{k}", key: figure, "ci95": 1.0, "n": 3, "p_value": 0.5}


def write_eval(where: Path, generated: int, mixed_minus_augmentation: float) -> None:
    where.mkdir(parents=True)
    mixed = "half reptile (evaluated), half traditional augmentation"
    runs = "seeds 0, 1, 2"
    records = [record(runs, "value", STANDARD, 36.0), record(runs, "value", AUGMENTED, 60.0),
               record(runs, "value", mixed, 60.0 + mixed_minus_augmentation),
               record(runs, "paired", AUGMENTED, 24.0, STANDARD),
               record(runs, "paired", mixed, 24.0 + mixed_minus_augmentation, STANDARD),
               record(runs, "paired", mixed, mixed_minus_augmentation, AUGMENTED),
               # a single seed's figures, and another class: not the over-seeds rows
               record("seed 0", "paired", mixed, -99.0, AUGMENTED),
               record(runs, "paired", mixed, -99.0, AUGMENTED, cls="Greek/character01")]
    meta = {"over_seeds": runs, "classes_measured": "validation", "evaluated_sample_temperature": 1.5,
            "low_data": {"generated": generated}}
    (where / "eval.json").write_text(json.dumps({"records": records, "metadata": meta}))


def test_reads_each_evals_over_seeds_rows_and_their_pairs(tmp_path):
    write_eval(tmp_path / "sweep" / "0", 50, -1.0)
    write_eval(tmp_path / "sweep" / "1", 100, 2.5)
    rows = [r for p in low_data_table.eval_files([tmp_path / "sweep"]) for r in low_data_table.rows_of(p)]
    mixed = {r["generated"]: r for r in rows if r["row"].startswith("half")}
    assert mixed[50]["minus_augmentation"][0] == -1.0 and mixed[100]["minus_augmentation"][0] == 2.5
    assert mixed[100]["minus_standard"][0] == 26.5 and mixed[100]["accuracy"][0] == 62.5
    standard = [r for r in rows if r["row"] == STANDARD]
    assert len(standard) == 2 and all("minus_standard" not in r for r in standard)
    assert {r["k"] for r in rows} == {5} and {r["temperature"] for r in rows} == {1.5}


def test_a_dir_without_evals_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no eval.json"):
        low_data_table.eval_files([tmp_path])
