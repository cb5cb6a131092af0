"""Orbax checkpoints of the state pytree under ``<run dir>/checkpoints``.

Orbax writes each step into a temporary directory and renames it when complete, so a
crash never leaves a half-written checkpoint that a restore would pick up.  A finished
checkpoint damaged later (a disk fault, a copy cut short, flipped bits) is caught before
orbax reads it: each step carries ``metagan_files.json``, the size and SHA-256 of every
file in it, checked on restore.  (Steps written without it still restore; damage to them
shows as orbax's read error.)  Meta-train then resumes from the newest intact step and
moves the damaged ones aside to ``<run dir>/damaged_checkpoints``; the other commands
name it in one line.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from metagan_cli.errors import UserError, WriteFailed

DAMAGED_DIR = "damaged_checkpoints"
FILE_LIST = "metagan_files.json"       # inside each step: {relative path: [bytes, sha256]}
# what a full disk, a quota, a read-only or an unwritable file system raise
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


class DamagedCheckpoint(UserError):
    def __init__(self, path: Path, error: Exception, other_config_possible: bool = True):
        while error.__cause__ is not None:     # the file system's own words are innermost
            error = error.__cause__
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:240]
        suffix = ", or was written by another config" if other_config_possible else ""
        super().__init__(f"checkpoint {path} cannot be read ({reason}); it is damaged{suffix}")
        self.path = path


class Checkpoints:
    def __init__(self, run_dir: str | Path, keep: int = 3, read_only: bool = False):
        self.directory = Path(run_dir).absolute() / "checkpoints"
        self._options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only,
                                                     read_only=read_only,
                                                     enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(self.directory, options=self._options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state) -> None:
        """Saves ``step``; a write the file system refuses raises WriteFailed, and the
        checkpoints saved before stay as they were."""
        try:
            self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
            self._manager.wait_until_finished()
            if jax.process_index() == 0:
                _write_file_list(self.directory / str(step))
        except Exception as error:            # orbax may wrap the OSError in its own error
            cause = _os_error(error)
            if cause is None:
                raise
            good = [s for s in self._manager.all_steps() if s != step]
            kept = (f"the last good checkpoint, step {max(good)}, is intact" if good
                    else "no checkpoint was saved before")
            raise WriteFailed(f"could not write the checkpoint of step {step} to {self.directory} "
                              f"({cause.strerror or cause}); {kept}. Free space or fix the "
                              f"permissions, then rerun the same command to resume") from None

    def restore(self, like, step: int | None = None):
        """Restores into the structure, shapes and dtypes of ``like``; DamagedCheckpoint
        when the files of that step do not restore."""
        step = self.latest_step() if step is None else step
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like)
        problem = _file_list_problem(self.directory / str(step))
        if problem is not None:
            raise DamagedCheckpoint(self.directory / str(step), ValueError(problem), other_config_possible=False)
        try:
            return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        except Exception as error:            # tensorstore and orbax raise many kinds for bad files
            damaged = DamagedCheckpoint(self.directory / str(step), error)
        _drop_failed_reads()
        raise damaged

    def newest_intact(self, like, set_aside: bool) -> tuple[int | None, list[DamagedCheckpoint]]:
        """The newest step that restores, and the damaged newer ones.  With ``set_aside``
        (the run's writer) those move to ``<run dir>/damaged_checkpoints``: left in place
        they would count as the newest, and their steps could not be saved again."""
        damaged = []
        for step in sorted(self._manager.all_steps(), reverse=True):
            try:
                self.restore(like, step)
            except DamagedCheckpoint as error:
                damaged.append(error)
                continue
            break
        else:
            step = None
        if damaged:
            if set_aside:
                aside = self.directory.parent / DAMAGED_DIR
                aside.mkdir(exist_ok=True)
                for error in damaged:
                    target = aside / error.path.name
                    if target.exists():
                        shutil.rmtree(target)
                    error.path.rename(target)
            if jax.process_count() > 1:
                from jax.experimental import multihost_utils
                multihost_utils.sync_global_devices("metagan damaged checkpoints set aside")
            self._manager.close()
            self._manager = ocp.CheckpointManager(self.directory, options=self._options)
        return step, damaged

    def close(self) -> None:
        self._manager.close()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_file_list(step_dir: Path) -> None:
    """Records every file of a finished step, written atomically (a crash before the rename
    leaves a step without a list, which restores as orbax alone checks it)."""
    files = {str(p.relative_to(step_dir)): [p.stat().st_size, _file_digest(p)]
             for p in sorted(step_dir.rglob("*")) if p.is_file() and p.name != FILE_LIST}
    partial = step_dir / (FILE_LIST + ".partial")
    partial.write_text(json.dumps(files, indent=0))
    os.replace(partial, step_dir / FILE_LIST)


def _file_list_problem(step_dir: Path) -> str | None:
    """What differs from the step's file list (the first difference), or None when every
    file is as written or the step has no list."""
    listed = step_dir / FILE_LIST
    if not listed.is_file():
        return None
    try:
        files = json.loads(listed.read_text())
    except (OSError, ValueError) as error:
        return f"its file list {FILE_LIST} is unreadable: {error}"
    for name, (size, digest) in files.items():
        path = step_dir / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, {size} were written"
        if _file_digest(path) != digest:
            return f"{name} does not hold the bytes written (SHA-256 differs)"
    return None


def _os_error(error: BaseException) -> OSError | None:
    """The OSError of a refused write behind ``error`` (or its causes), if any."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in WRITE_ERRNOS:
            return error
        error = error.__cause__ or error.__context__
    return None


def _drop_failed_reads() -> None:
    """Silences the reads a failed restore leaves behind: orbax's coroutines that hold the
    same error, each of which would print an "Exception ignored" traceback when collected
    (at exit, after the one-line error).  Other unraisable errors still print."""
    if getattr(sys.unraisablehook, "metagan_filter", False):
        return
    previous = sys.unraisablehook

    def hook(unraisable):
        code = getattr(unraisable.object, "cr_code", None)
        if code is None or "orbax" not in code.co_filename:
            previous(unraisable)
    hook.metagan_filter = True
    sys.unraisablehook = hook
