"""A run dir's identity: ``run.json`` says what made it (meta-train or adapt), with the
exact frozen config the core used, so later commands can rebuild model and task."""
from __future__ import annotations

import json
import os
from pathlib import Path

from metagan_cli import __version__
from metagan_cli.config import ConfigError, MetaLearnConfig, from_dict, to_dict
from metagan_cli.errors import UserError

RUN_FILE = "run.json"


def write_json_atomic(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def write_run_info(run_dir: Path, kind: str, cfg: MetaLearnConfig, **extra) -> None:
    info = {"kind": kind, "metagan_version": __version__, "config": to_dict(cfg), **extra}
    write_json_atomic(Path(run_dir) / RUN_FILE, info)


def read_run_info(path: str | Path | None) -> tuple[Path, dict, MetaLearnConfig]:
    """Validates ``checkpoint=PATH`` and returns (run dir, run.json, its config)."""
    if path is None or str(path) in ("", "???"):
        raise UserError("checkpoint= is required: give a meta-train run dir or an adapt dir")
    run_dir = Path(path).expanduser()
    if not run_dir.is_dir():
        raise UserError(f"checkpoint={path}: no such run dir")
    info_file = run_dir / RUN_FILE
    if not info_file.is_file():
        raise UserError(f"checkpoint={path} is not a metagan run dir (no {RUN_FILE}); "
                        f"give the directory meta-train or adapt wrote")
    try:
        info = json.loads(info_file.read_text())
        cfg = from_dict(MetaLearnConfig, info["config"])
    except (json.JSONDecodeError, KeyError, ConfigError) as err:
        raise UserError(f"{info_file} is damaged or from an incompatible metagan: {err}") from None
    if not (run_dir / "checkpoints").is_dir():
        raise UserError(f"checkpoint={path} has no checkpoints yet; let meta-train save one first")
    return run_dir, info, cfg
