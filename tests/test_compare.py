"""`metagan compare` takes methods of one task and split, with the same seeds."""
import dataclasses
import json
import shutil

import pytest

from metagan_cli.config import AlgoConfig
from metagan_cli.errors import UserError
from metagan_cli.workflows.compare import load_methods
from metagan_cli.workflows.meta_train import meta_train
from helpers import tiny_config


@pytest.fixture(scope="module")
def two_methods(tmp_path_factory):
    """A reptile run of the tiny digits config and a scratch run (no training)."""
    root = tmp_path_factory.mktemp("compare")
    cfg = dataclasses.replace(tiny_config(), train=dataclasses.replace(tiny_config().train, steps=2))
    meta_train(cfg, root / "reptile")
    meta_train(dataclasses.replace(cfg, algo=AlgoConfig(name="scratch", meta_batch=2, inner_steps=2)),
               root / "scratch")
    return root


def _edited_copy(root, name, edit):
    """A copy of the reptile run whose run.json says something else."""
    copy = root / name
    if not copy.exists():
        shutil.copytree(root / "reptile", copy)
        info = json.loads((copy / "run.json").read_text())
        edit(info["config"])
        (copy / "run.json").write_text(json.dumps(info))
    return copy


def test_methods_are_labelled_by_algorithm(two_methods):
    methods = load_methods([str(two_methods / "reptile"), str(two_methods / "scratch"),
                            str(two_methods / "reptile")])
    assert [m.label for m in methods] == ["reptile", "scratch", "reptile #2"]
    assert [m.budget for m in methods] == [2, 2, 2]
    named = load_methods([str(two_methods / "reptile"), str(two_methods / "scratch")], ["FIGR", "no meta"])
    assert [m.label for m in named] == ["FIGR", "no meta"]
    with pytest.raises(UserError, match="one distinct name per method"):
        load_methods([str(two_methods / "reptile"), str(two_methods / "scratch")], ["FIGR", "FIGR"])


def test_runs_of_another_split_or_other_seeds_are_refused(two_methods):
    other_split = _edited_copy(two_methods, "other_split", lambda c: c["task"].update(test_classes=[6, 8, 9]))
    with pytest.raises(UserError, match=r"different tasks or splits \(task.test_classes differs\)"):
        load_methods([str(two_methods / "reptile"), str(other_split)])
    other_task = _edited_copy(two_methods, "other_task", lambda c: c["task"].update(name="fewshot_mnist"))
    with pytest.raises(UserError, match=r"different tasks or splits \(task.name differs\)"):
        load_methods([str(two_methods / "scratch"), str(other_task)])
    other_seed = _edited_copy(two_methods, "other_seed", lambda c: c.update(seed=7))
    with pytest.raises(UserError, match="same meta-training seeds"):
        load_methods([str(two_methods / "reptile"), str(other_seed)])
    with pytest.raises(UserError, match="two methods or more"):
        load_methods([str(two_methods / "reptile")])


def test_each_methods_rows_face_augmentation_and_each_other():
    from metagan_cli.evaluation.summary import low_data_row_pairs
    aug = "traditional augmentation"
    assert low_data_row_pairs(["a", "b"], [], []) == [("a", aug), ("b", aug)]
    pairs = low_data_row_pairs(["a", "b", "c"], [], ["a", "b", "c"])
    half = "half {}, half traditional augmentation".format
    assert [p for p in pairs if p[1] == aug] == [("a", aug), ("b", aug), ("c", aug),
                                                  (half("a"), aug), (half("b"), aug), (half("c"), aug)]
    assert [p for p in pairs if p[1] != aug] == [(half("a"), half("b")), (half("a"), half("c")),
                                                  (half("b"), half("c"))]
    once = low_data_row_pairs(["a", "b"], ["a", "b"], [])
    assert ("a + traditional augmentation", "b + traditional augmentation") in once
    assert ("b + traditional augmentation", aug) in once
