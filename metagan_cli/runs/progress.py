"""A progress bar with rate and ETA on a terminal; plain log lines otherwise (batch
jobs, CI, Slurm logs), so logs stay readable."""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
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

    @contextlib.contextmanager
    def waiting(self, what: str, every: float = 1.0, log_after: float = 30.0):
        """Says ``what`` is happening while the block runs (a long compilation): on a
        terminal the bar shows it with the seconds so far; in plain logs one line at the
        start and one every ``log_after`` seconds."""
        if not self._enabled:
            yield
            return
        done, t0 = threading.Event(), time.perf_counter()
        if self._bar is None:
            log.info("%s ...", what)

        def tick():
            logged = 0
            while not done.wait(every):
                elapsed = time.perf_counter() - t0
                if self._bar is not None:
                    self._bar.set_postfix_str(f"{what} ... {elapsed:.0f} s", refresh=True)
                elif elapsed >= (logged + 1) * log_after:
                    logged += 1
                    log.info("%s ... %.0f s so far", what, elapsed)
        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()
            if self._bar is not None:
                self._bar.set_postfix_str("", refresh=True)

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
