"""A progress bar with rate and ETA on a terminal; plain log lines otherwise (batch
jobs, CI, Slurm logs), so logs stay readable."""
from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("metagan")


class Progress:
    def __init__(self, total: int, start: int = 0, desc: str = "", unit: str = "it",
                 log_every: int = 50, enabled: bool = True):
        """``enabled=False`` shows nothing (processes other than 0 of a multi-host run)."""
        self.total, self.done, self.desc = total, start, desc
        self._log_every, self._start, self._t0 = log_every, start, time.perf_counter()
        self._bar, self._postfix, self._enabled = None, {}, enabled
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=total, initial=start, desc=desc, unit=unit,
                             dynamic_ncols=True, leave=True)

    def restart_clock(self) -> None:
        """Excludes what came before (e.g. compilation) from the plain-log rate."""
        self._start, self._t0 = self.done, time.perf_counter()

    def update(self, n: int = 1, **postfix) -> None:
        self.done += n
        self._postfix.update(postfix)
        if self._bar is not None:
            self._bar.update(n)
            if postfix:
                self._bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)
        elif self._enabled and (self.done % self._log_every == 0 or self.done == self.total):
            elapsed = time.perf_counter() - self._t0
            rate = (self.done - self._start) / max(elapsed, 1e-9)
            eta = (self.total - self.done) / max(rate, 1e-9)
            extra = " ".join(f"{k}={v:.3g}" for k, v in self._postfix.items())
            log.info("%s %d/%d (%.1f/s, eta %.0fs) %s", self.desc, self.done, self.total,
                     rate, eta, extra)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
