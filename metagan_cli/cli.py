"""`metagan <command> [overrides]`: dispatches to one Hydra app per command.

Mistakes in what the user typed (an unknown command, config key, group option or a
bad value; a missing path) end with one line on stderr and exit status 2.  Anything
else is a bug and keeps its traceback.
"""
from __future__ import annotations

import importlib
import os
import sys

from metagan_cli.cluster.host_memory import cap_malloc_arenas
from metagan_cli.errors import USAGE_ERROR, report_user_error

COMMANDS = {
    "meta-train": ("metagan_cli.commands.meta_train", "meta-learn a GAN initialisation over few-shot tasks"),
    "adapt": ("metagan_cli.commands.adapt", "adapt a meta-trained GAN to K images of a new class"),
    "sample": ("metagan_cli.commands.sample", "write N generated images (PNG grid and .npz)"),
    "eval": ("metagan_cli.commands.evaluate", "compare adapted samples with baselines on held-out classes"),
    "compare": ("metagan_cli.commands.compare", "several methods, each over its seeds, measured side by side"),
}


def usage() -> str:
    lines = ["usage: metagan <command> [key=value ...] [--help] [--cfg job] [-m]", "", "commands:"]
    lines += [f"  {name:<12}{help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "'metagan <command> --help' lists a command's config groups and keys."]
    return "\n".join(lines)


def one_line(error: BaseException) -> str:
    """Folds Hydra's and OmegaConf's multi-line messages (and their causes) into one line."""
    parts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error).split("\n\nConfig search path")[0]
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        lines = [ln for ln in lines if not ln.startswith(("full_key:", "object_type=", "reference_type="))]
        if lines:
            parts.append(" ".join(lines).replace("Available options in", "; options in"))
        error = error.__cause__
    return " ".join(parts) or "invalid input"


def _user_error_types() -> tuple[type, ...]:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from metagan_cli.config import ConfigError
    from metagan_cli.errors import UserError
    return (UserError, ConfigError, HydraException, OmegaConfBaseException)


def _quiet_secondary_process(args: list[str]) -> list[str]:
    """Hydra overrides that keep processes other than 0 of a multi-host run from
    writing the run dir's config copies and log (process 0 writes them)."""
    from metagan_cli.cluster.slurm import process_index_hint
    if process_index_hint(args) == 0:
        return []
    return ["hydra.output_subdir=null", "hydra/job_logging=stdout"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from metagan_cli import __version__
        print(f"metagan {__version__}")
        return 0
    command = argv[0]
    if command not in COMMANDS:
        print(f"metagan: error: unknown command '{command}'; choose one of "
              f"{', '.join(COMMANDS)} (see 'metagan --help')", file=sys.stderr)
        return USAGE_ERROR
    # Let exceptions reach us instead of Hydra's multi-line report, so user mistakes
    # become one line and bugs keep their full traceback.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    # Before JAX starts its thread pools: long runs keep a flat resident memory.
    cap_malloc_arenas()
    sys.argv = [f"metagan {command}", *argv[1:], *_quiet_secondary_process(argv[1:])]
    user_errors = _user_error_types()
    try:
        importlib.import_module(COMMANDS[command][0]).main()
    except user_errors as error:
        report_user_error(one_line(error), getattr(error, "exit_status", USAGE_ERROR))
    except BrokenPipeError:            # e.g. `metagan meta-train --help | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"metagan {command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
