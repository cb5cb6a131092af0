"""Preemption: save at the current step, then leave so the job can be requeued.

Slurm signals a job before it stops it: SIGTERM on preemption or ``scancel``, or the
signal chosen with ``--signal`` before the time limit (SIGUSR1 under submitit, which
then requeues the job).  The handler only records the signal; the training loop
saves a checkpoint at the next meta-step boundary (a meta-step is never cut in half)
and calls ``leave``: it hands the signal to the handler that was installed before
(submitit's requeues the job and exits), or exits with status 75 (EX_TEMPFAIL: "try
again"), which an sbatch script can requeue on.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading

log = logging.getLogger("metagan")

PREEMPTION_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
EXIT_STATUS = 75


class PreemptionWatch:
    """Context manager: while inside, SIGTERM and SIGUSR1 are recorded, not fatal."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _record(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum

    def __enter__(self) -> "PreemptionWatch":
        if threading.current_thread() is threading.main_thread():   # signals need the main thread
            for sig in PREEMPTION_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._record)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def leave(self, step: int) -> None:
        """After the checkpoint at ``step`` is saved: pass the signal on, or exit."""
        name = signal.Signals(self.signum).name if self.signum else "a preemption signal"
        log.warning("stopped by %s after meta-step %d with its checkpoint saved; rerun the "
                    "same command to resume", name, step)
        previous = self._previous.get(self.signum)
        self.__exit__()
        if callable(previous):
            previous(self.signum, None)       # e.g. submitit: requeue, then exit
        sys.exit(EXIT_STATUS)
