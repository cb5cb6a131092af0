"""Shared glue between a Hydra config and the workflows."""
from __future__ import annotations

import functools
import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from metagan_cli.commands.config_help import register_defaults
from metagan_cli.config import (COMMAND_RANGES, DISTRIBUTED_RANGES, ConfigError, DistributedConfig, MetaLearnConfig,
                                 numeric_values, check_ranges, from_dict, validate)
from metagan_cli.errors import UserError, report_user_error

CONFIG_PATH = "pkg://metagan_cli.conf"   # conf/ at the top of the repo, shipped in the package
VERSION_BASE = "1.3"
register_defaults()     # the dataclass defaults, before Hydra composes a config


def reports_user_errors(command):
    """Turns a user mistake raised inside the Hydra job into one line and exit status 2
    (raised past Hydra, it would print its own report first)."""
    @functools.wraps(command)
    def wrapper(cfg):
        try:
            return command(cfg)
        except (UserError, ConfigError) as error:
            report_user_error(str(error), getattr(error, "exit_status", 2))
    return wrapper


def run_dir() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


CONFIG_COPIES = ".hydra"


def write_config_copies(cfg: DictConfig, where: Path) -> None:
    """Hydra's copies of the composed config, its own config and the overrides, written
    into ``where/.hydra`` by the command once it may write there (meta-train: under the
    run-dir lock, so a refused second writer changes nothing); each file atomically."""
    from metagan_cli.runs.run_dir import write_text_atomic
    hydra_cfg = HydraConfig.get()
    copies = {"config.yaml": OmegaConf.to_yaml(cfg),
              "hydra.yaml": OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_cfg})),
              "overrides.yaml": OmegaConf.to_yaml(hydra_cfg.overrides.task)}
    directory = Path(where) / CONFIG_COPIES
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in copies.items():
        write_text_atomic(directory / name, text)


def plain(cfg: DictConfig) -> dict:
    """Resolves interpolations and drops Hydra's own node."""
    values = OmegaConf.to_container(cfg, resolve=True)
    values.pop("hydra", None)
    return values


def required(cfg: DictConfig, key: str) -> str:
    if OmegaConf.is_missing(cfg, key) or cfg[key] in (None, ""):
        raise UserError(f"{key}= is required (for example {key}=runs/meta-train/...)")
    return cfg[key]


def meta_learn_config(cfg: DictConfig) -> MetaLearnConfig:
    """The meta-train config as a frozen, validated dataclass."""
    values = plain(cfg)
    values.pop("distributed", None)     # how to run, not what: see distributed_config
    return validate(from_dict(MetaLearnConfig, values))


def distributed_config(cfg: DictConfig) -> DistributedConfig:
    values = OmegaConf.to_container(cfg.get("distributed") or {}, resolve=True)
    config = from_dict(DistributedConfig, values, prefix="distributed.")
    if config.initialize not in (True, False, "auto"):
        raise ConfigError(f"distributed.initialize must be auto, true or false; "
                          f"got '{config.initialize}'")
    devices = config.cpu_devices
    if devices != "auto" and (isinstance(devices, bool) or not isinstance(devices, int) or devices < 1):
        raise ConfigError(f"distributed.cpu_devices must be auto or a positive integer; got '{devices}'")
    check_ranges(numeric_values(config, "distributed."), DISTRIBUTED_RANGES)
    if None not in (config.process_id, config.num_processes) and config.process_id >= config.num_processes:
        raise ConfigError(f"distributed.process_id must be < distributed.num_processes "
                          f"({config.num_processes}), got {config.process_id}")
    return config


def quiet_libraries() -> None:
    logging.getLogger("absl").setLevel(logging.ERROR)   # orbax reports routine choices as warnings
    for name in ("orbax", "jax._src.xla_bridge", "jax._src.compilation_cache", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)


def optional_int(cfg: DictConfig, key: str) -> int | None:
    return _optional_number(cfg, key, (int,), "an integer")


def optional_float(cfg: DictConfig, key: str) -> float | None:
    value = _optional_number(cfg, key, (int, float), "a number")
    return None if value is None else float(value)


def _optional_number(cfg: DictConfig, key: str, types: tuple, noun: str):
    """``key``'s value (None if unset), refused in one line unless of ``types`` (never a
    bool) and within its COMMAND_RANGES range."""
    value = OmegaConf.select(cfg, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, types):
        raise UserError(f"{key} must be {noun}, got {value!r}")
    if key in COMMAND_RANGES and value not in COMMAND_RANGES[key]:
        raise UserError(f"{key} must be {COMMAND_RANGES[key]}, got {value}")
    return value
