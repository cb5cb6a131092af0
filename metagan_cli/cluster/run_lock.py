"""One writer per run dir: an advisory lock held while a command writes into it.

The lock is an ``flock`` on ``<run dir>/.lock``: the kernel releases it when the
process ends however it ends (kill -9 included), so a stale lock never blocks a rerun.
"""
from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from metagan_cli.errors import UserError

LOCK_FILE = ".lock"


class RunDirLock:
    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._file = None

    def __enter__(self) -> "RunDirLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise UserError(f"run dir {self.path.parent} is being written by {holder}; wait "
                            f"for it to finish or choose another hydra.run.dir=") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"metagan pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
