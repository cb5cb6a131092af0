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
# The layout of run.json and of the checkpointed state pytree.  Raise it when a change
# makes older run dirs unreadable, and OLDEST_READABLE_FORMAT with it when they can no
# longer be read.  Run dirs from before the key existed are format 1.
RUN_FORMAT = 1
OLDEST_READABLE_FORMAT = 1


def write_text_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never a part (rename is atomic)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json_atomic(path: Path, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def write_run_info(run_dir: Path, kind: str, cfg: MetaLearnConfig, **extra) -> None:
    info = {"kind": kind, "metagan_version": __version__, "run_format": RUN_FORMAT, "config": to_dict(cfg),
            **extra}
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
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{info_file} is damaged ({err}); it is not a run dir metagan can read") from None
    if not isinstance(info, dict):
        raise UserError(f"{info_file} is damaged (not a JSON object); it is not a run dir metagan can read")
    check_format(info, run_dir)
    try:
        cfg = from_dict(MetaLearnConfig, info["config"])
    except (KeyError, TypeError, ConfigError) as err:
        raise UserError(f"{info_file} holds a config this metagan {__version__} cannot read (written by "
                        f"metagan {info.get('metagan_version', '?')}; {err}): rerun it with this version") from None
    if not (run_dir / "checkpoints").is_dir():
        raise UserError(f"checkpoint={path} has no checkpoints yet; let meta-train save one first")
    return run_dir, info, cfg


def check_format(info: dict, run_dir: Path) -> None:
    """Refuses a run dir this metagan cannot read, naming both versions."""
    found = info.get("run_format", 1)
    if not isinstance(found, int) or not OLDEST_READABLE_FORMAT <= found <= RUN_FORMAT:
        raise UserError(f"run dir {run_dir} was written by metagan {info.get('metagan_version', '?')} "
                        f"(run format {found}); this is metagan {__version__}, which reads run formats "
                        f"{OLDEST_READABLE_FORMAT}-{RUN_FORMAT}: use a metagan that reads it, or rerun")
