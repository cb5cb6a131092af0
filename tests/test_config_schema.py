"""One source of defaults: the dataclasses of metagan_cli/config.py.  The YAML files hold
options only, every key they set exists in the schema, every composition of options
has exactly the schema's keys, and --help documents each key."""
from importlib import resources

import pytest
import yaml
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import metagan_cli.commands.hydra_app  # noqa: F401  (registers the dataclass defaults)
from metagan_cli.commands.config_help import documented, keys_help, yaml_comment_docs
from metagan_cli.commands.hydra_app import distributed_config, meta_learn_config
from metagan_cli.config import (DistributedConfig, EvalConfig, MetaLearnConfig, OptimConfig,
                                documented_keys, eval_config, to_dict)

CONF = resources.files("metagan_cli.conf")
GROUPS = {"task": "task", "model": "model", "algo": "algo", "gan_loss": "gan_loss",
          "inner_optim": "inner_optim", "outer_optim": "outer_optim"}


def _flat(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for k, v in tree.items():
        keys |= _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
    return keys


def _options(group: str) -> list[str]:
    return sorted(p.name[:-5] for p in CONF.joinpath(group).iterdir() if p.name.endswith(".yaml"))


SCHEMA_KEYS = _flat(to_dict(MetaLearnConfig())) | {f"distributed.{k}" for k in _flat(to_dict(DistributedConfig()))}


@pytest.mark.parametrize("group", GROUPS)
def test_every_key_of_every_option_is_in_the_schema(group):
    allowed = _flat(to_dict(MetaLearnConfig())[group])
    for option in _options(group):
        text = CONF.joinpath(group, f"{option}.yaml").read_text()
        values = yaml.safe_load(text) or {}
        if text.startswith("# @package _global_"):     # an option that also picks another group's
            assert set(values) <= {group, "defaults"}, (group, option)
            values = values.get(group) or {}
        assert set(values) <= allowed, (group, option, set(values) - allowed)


def test_the_command_files_hold_options_not_defaults():
    meta = yaml.safe_load(CONF.joinpath("meta_train.yaml").read_text())
    assert set(meta) == {"defaults", "hydra"} and meta["defaults"][0] == "meta_train_defaults"
    ev = yaml.safe_load(CONF.joinpath("eval.yaml").read_text())
    assert "eval" not in ev and ev["defaults"][0] == "eval_defaults"


@pytest.mark.parametrize("group", GROUPS)
def test_each_option_composes_to_exactly_the_schema_and_validates(group):
    """Vice versa: whatever the options, the composed config has every schema key and
    no other, and it passes the dataclasses' type checks and validation."""
    with initialize_config_module(config_module="metagan_cli.conf", version_base="1.3"):
        for option in _options(group):
            extra = ["task.image_size=28"] if (group, option) == ("model", "reference") else []
            cfg = compose(config_name="meta_train", overrides=[f"{group}={option}", *extra])
            values = OmegaConf.to_container(cfg, resolve=True)
            assert _flat(values) == SCHEMA_KEYS, (group, option)
            config = meta_learn_config(cfg)
            distributed_config(cfg)
            chosen = {"inner_optim": config.inner_optim, "outer_optim": config.outer_optim}.get(group)
            if chosen is not None:
                assert isinstance(chosen, OptimConfig) and chosen.name == option


def test_the_defaults_are_the_dataclasses():
    with initialize_config_module(config_module="metagan_cli.conf", version_base="1.3"):
        assert meta_learn_config(compose(config_name="meta_train")) == MetaLearnConfig()
        ev = compose(config_name="eval", overrides=["checkpoint=x"])
        assert eval_config(OmegaConf.to_container(ev.eval, resolve=True)) == EvalConfig()


@pytest.mark.parametrize("command", ["meta_train", "eval", "adapt", "sample"])
def test_help_documents_every_key(command):
    keys = dict(documented(command))
    assert all(keys.values()), [k for k, doc in keys.items() if not doc]
    if command == "meta_train":
        assert set(keys) == SCHEMA_KEYS
    if command == "eval":
        assert {k for k in keys if k.startswith("eval.")} == {k for k, _ in documented_keys(EvalConfig, "eval.")}
    text = keys_help(command)
    assert all(key in text for key in keys)


def test_yaml_comment_docs_follow_nesting_and_continuation_lines():
    text = "a: 1   # one\nb:\n  c: x  # see\n       # more\nhydra:\n  run: y  # no\n"
    assert yaml_comment_docs(text) == {"a": "one", "b.c": "see more"}


def test_every_registered_choice_has_its_option_file_and_back():
    """A new algorithm, model, loss or optimiser is its record plus one YAML file."""
    from metagan_cli.core.algorithms import ALGORITHMS
    from metagan_cli.core.losses import GAN_LOSSES
    from metagan_cli.core.models import MODELS
    from metagan_cli.core.optim import OPTIMIZERS
    assert set(_options("algo")) == set(ALGORITHMS.names())
    assert set(_options("model")) == set(MODELS.names())
    assert set(_options("gan_loss")) == set(GAN_LOSSES.names())
    assert set(_options("inner_optim")) == set(_options("outer_optim")) == set(OPTIMIZERS.names())


def test_an_unknown_choice_names_the_registered_ones():
    import dataclasses
    from metagan_cli.config import ConfigError, validate
    cfg = MetaLearnConfig()
    with pytest.raises(ConfigError, match="algo.name must be one of .*reptile.*; got 'nope'"):
        validate(dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, name="nope")))
    with pytest.raises(ConfigError, match="outer_optim.name must be one of adam, sgd; got 'lion'"):
        validate(dataclasses.replace(cfg, outer_optim=OptimConfig(name="lion")))


def test_each_experiment_preset_composes_validates_and_can_be_overridden():
    """experiment=NAME: a preset over the default options; the command line still wins."""
    presets = _options("experiment")
    assert presets
    with initialize_config_module(config_module="metagan_cli.conf", version_base="1.3"):
        for name in presets:
            cfg = compose(config_name="meta_train", overrides=[f"experiment={name}"])
            assert _flat(OmegaConf.to_container(cfg, resolve=True)) == SCHEMA_KEYS, name
            assert meta_learn_config(cfg) != MetaLearnConfig(), name
            seeded = compose(config_name="meta_train", overrides=[f"experiment={name}", "seed=7", "train.steps=3"])
            config = meta_learn_config(seeded)
            assert (config.seed, config.train.steps) == (7, 3)
        digits = meta_learn_config(compose(config_name="meta_train", overrides=["experiment=digits_conditioned"]))
        assert digits.model.arch == "conditioned" and digits.gan_loss.mode_seeking == 1.0
        assert digits.task == MetaLearnConfig().task
        warp = meta_learn_config(compose(config_name="meta_train", overrides=["experiment=omniglot_warp"]))
        assert (warp.model.arch, warp.task.source, warp.train.steps, warp.algo.adapt_steps, warp.algo.adapt_g) == (
            "warp", "folder", 1500, 0, "norm")
        mnist = meta_learn_config(compose(config_name="meta_train", overrides=["experiment=mnist_warp"]))
        assert (mnist.model.arch, mnist.task.name, mnist.task.split, mnist.train.steps, mnist.algo.adapt_steps,
                mnist.algo.adapt_g, mnist.algo.sample_temperature) == (
            "warp", "fewshot_mnist", "mnist_holdout_789_val56", 500, None, "norm", 1.0)
