"""Orbax checkpoints of the state pytree under ``<run dir>/checkpoints``.

Orbax writes each step into a temporary directory and renames it when complete, so a
crash never leaves a half-written checkpoint that a restore would pick up.
"""
from __future__ import annotations

from pathlib import Path

import jax
import orbax.checkpoint as ocp


class Checkpoints:
    def __init__(self, run_dir: str | Path, keep: int = 3, read_only: bool = False):
        self.directory = Path(run_dir).absolute() / "checkpoints"
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only,
                                               read_only=read_only,
                                               enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state) -> None:
        self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
        self._manager.wait_until_finished()

    def restore(self, like, step: int | None = None):
        """Restores into the structure, shapes and dtypes of ``like``."""
        step = self.latest_step() if step is None else step
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like)
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def close(self) -> None:
        self._manager.close()
