"""Every numeric key of every command tried with 0, a negative, a non-integer and an
absurdly large value: each is refused with one line naming the key and its allowed
range, or it runs.  The keys are found from the config classes' types, so a new
numeric key without a range fails here."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import types
import typing

import pytest
from omegaconf import OmegaConf

from metagan_cli.commands.hydra_app import distributed_config, optional_float, optional_int
from metagan_cli.config import (COMMAND_RANGES, ConfigError, DistributedConfig, EvalConfig, MetaLearnConfig,
                                eval_config, from_dict, validate)
from metagan_cli.errors import UserError

TRIALS = (0, -1, 0.5, 10**12)


def numeric_keys(cls, prefix: str = "") -> list[tuple[str, bool]]:
    """(dotted key, is a list) of every int or float field, by its type."""
    hints, keys = typing.get_type_hints(cls), []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            keys += numeric_keys(hint, f"{prefix}{f.name}.")
            continue
        options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        for option in options:
            if option in (int, float):
                keys.append((prefix + f.name, False))
                break
            if typing.get_origin(option) is tuple and typing.get_args(option)[0] in (int, float):
                keys.append((prefix + f.name, True))
                break
    return keys


def _nested(key: str, value) -> dict:
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def _meta_train(key: str, value) -> None:
    validate(from_dict(MetaLearnConfig, _nested(key, value)))


def _eval(key: str, value) -> None:
    eval_config(_nested(key, value)["eval"])


def _distributed(key: str, value) -> None:
    distributed_config(OmegaConf.create(_nested(key, value)))


COMMAND_FLOATS = {"temperature"}


def _command(key: str, value) -> None:
    read = optional_float if key in COMMAND_FLOATS else optional_int
    read(OmegaConf.create(_nested(key, value)), key)


CHECKERS = {"meta-train": (_meta_train, numeric_keys(MetaLearnConfig)),
            "eval and compare": (_eval, numeric_keys(EvalConfig, "eval.")),
            "distributed": (_distributed, numeric_keys(DistributedConfig, "distributed.")),
            "adapt, sample, eval, compare": (_command, [(key, False) for key in COMMAND_RANGES])}

# What is accepted of the trials, and why each runs: zero where zero means "none" (no
# inner steps, no validation share, a term switched off, Adam's decays), halves of
# fractions and weights, and very large intervals (logging, grids and checkpoints only
# at the end; every checkpoint kept).  Class ids are checked against the data (the CLI
# test below); large loss weights and learning rates train or stop with the one-line
# divergence error of tests/test_cluster.py.
ACCEPTED = {
    ("seed", 0), ("task.train_classes", 0), ("task.train_classes", 10**12), ("task.test_classes", 10**12),
    ("task.validation_classes", 10**12), ("task.holdout_fraction", 0.5), ("task.validation_fraction", 0),
    ("task.validation_fraction", 0.5), ("algo.inner_steps", 0), ("algo.adapt_steps", 0), ("algo.outer_mmd", 0), ("algo.freeze_d", 0),
    ("algo.sample_temperature", 0.5), ("temperature", 0.5),
    *((f"gan_loss.{key}", v) for key in ("gp_weight", "kl_weight", "mode_seeking") for v in (0, 0.5, 10**12)),
    *((f"augment.{key}", v) for key in ("translation", "cutout", "affine") for v in (0, 0.5)),
    *((f"{opt}.lr", v) for opt in ("inner_optim", "outer_optim") for v in (0.5, 10**12)),
    *((f"{opt}.{key}", v) for opt in ("inner_optim", "outer_optim") for key in ("b1", "b2", "momentum")
      for v in (0, 0.5)),
    *((f"train.{key}", 10**12) for key in ("log_every", "sample_every", "checkpoint_every", "keep_checkpoints")),
    ("eval.budgets", 0), ("eval.grid_classes", 0), ("eval.tuning.lrs", 0.5), ("eval.tuning.lrs", 10**12),
    ("eval.classification.episodes", 0), ("eval.classification.generated_per_class", 0),
    ("eval.classification.budgets", 0), ("eval.low_data.budget", 0), ("eval.low_data.choose_budget", 0),
    ("distributed.process_id", 0), ("adapt.steps", 0),
}


@pytest.mark.parametrize("command", CHECKERS)
def test_every_numeric_key_is_refused_in_one_line_or_accepted_as_listed(command):
    check, keys = CHECKERS[command]
    assert keys
    accepted = set()
    for key, is_list in keys:
        for value in TRIALS:
            try:
                check(key, [value] if is_list else value)
            except (ConfigError, UserError) as error:
                message = str(error)
                assert message.startswith(key) or f" {key}" in message or f"{key}=" in message, (key, value, message)
                assert "\n" not in message, (key, value, message)
                if "must be" in message and not any(t in message for t in ("an integer", "a number")):
                    assert any(c.isdigit() for c in message.split("must be")[1]), message   # names the range
            else:
                accepted.add((key, value))
    listed = {(key, value) for key, value in ACCEPTED if key in {k for k, _ in keys}}
    assert accepted == listed, f"accepted but not listed: {accepted - listed}; listed but refused: {listed - accepted}"


def test_the_range_is_named_in_the_message():
    with pytest.raises(ConfigError, match=r"^algo\.meta_batch must be >= 1 and <= 65536, got 1000000000000$"):
        _meta_train("algo.meta_batch", 10**12)
    with pytest.raises(ConfigError, match=r"^eval\.low_data\.ks must be >= 1 and <= 100000, got \[0\]$"):
        _eval("eval.low_data.ks", [0])
    with pytest.raises(ConfigError, match=r"^inner_optim\.lr must be > 0, got 0.0$"):
        _meta_train("inner_optim.lr", 0)
    with pytest.raises(UserError, match=r"^seed must be >= 0 and <= 4294967295, got -1$"):
        _command("seed", -1)


def test_the_workflows_check_their_arguments_with_the_command_line_ranges(tmp_path):
    """Called from Python, not through the CLI: the same ranges, before any file is read."""
    from metagan_cli.workflows.adapt import adapt
    from metagan_cli.workflows.sample import sample
    missing = str(tmp_path / "no-run")
    with pytest.raises(UserError, match=r"^n must be >= 1 and <= 1000000, got 0$"):
        sample(missing, tmp_path / "out", n=0)
    with pytest.raises(UserError, match=r"^shots must be >= 1 and <= 100000, got 1000000$"):
        adapt(missing, tmp_path / "out", cls=0, shots=10**6)
    with pytest.raises(UserError, match=r"^adapt\.steps must be >= 0 and <= 1000000, got -1$"):
        adapt(missing, tmp_path / "out", cls=0, steps=-1)
    assert not (tmp_path / "out").exists()


TINY = ["task.image_size=8", "model.width=8", "model.z_dim=8", "algo.meta_batch=2", "algo.inner_steps=2",
        "train.steps=2", "train.log_every=1", "train.sample_every=100000"]


@pytest.mark.slow
def test_values_that_only_the_data_or_a_run_can_judge_through_the_cli(tmp_path):
    env = {**os.environ, "METAGAN_DATA_CACHE": "off"}

    def metagan(*args, status=0):
        result = subprocess.run([sys.executable, "-m", "metagan_cli", *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == status, (args, result.stderr[-2000:])
        assert "Traceback" not in result.stderr, (args, result.stderr[-2000:])
        return result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""

    run = tmp_path / "run"
    # accepted absurd values run: everything logged, gridded and saved at the end only
    metagan("meta-train", *TINY, "train.log_every=1000000000000", "train.sample_every=1000000000000",
            "train.checkpoint_every=1000000000000", "train.keep_checkpoints=1000000000000",
            "seed=4294967295", "algo.meta_batch=64", f"hydra.run.dir={run}")   # 64 tasks of 6 classes
    assert (run / "checkpoints" / "2").is_dir()
    refused = [
        (["meta-train", *TINY, "shots=100000"], "shots=100000 needs 100000"),
        (["meta-train", *TINY, "task.test_classes=[1000000000000]"], "task.test_classes names class 1000000000000"),
        (["meta-train", *TINY, "algo.meta_batch=-1"], "algo.meta_batch must be >= 1"),
        (["meta-train", *TINY, "algo.n_critic=1.5"], "algo.n_critic must be an integer"),
        (["adapt", f"checkpoint={run}", "class=7", "shots=1000000"], "shots must be >= 1 and <= 100000"),
        (["adapt", f"checkpoint={run}", "class=7", "shots=1000"], "shots=1000 needs 1000"),
        (["adapt", f"checkpoint={run}", "class=7", "adapt.steps=-3"], "adapt.steps must be >= 0"),
        (["sample", f"checkpoint={run}", "n=0"], "n must be >= 1"),
        (["eval", f"checkpoint={run}", "eval.samples=1000000000000"], "eval.samples must be >= 2 and <= 100000"),
        (["compare", f"runs=[{run}]", "eval.classification.ways=[1]"], "eval.classification.ways must be >= 2"),
        (["meta-train", *TINY, "distributed.cpu_devices=100000"], "distributed.cpu_devices must be"),
    ]
    for args, expected in refused:
        last = metagan(*args, status=2)
        assert expected in last, (args, last)
