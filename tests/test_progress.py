"""The progress line in plain logs (batch jobs, CI): a long wait says what it waits for."""
import logging
import time

from metagan_cli.runs.progress import Progress


def test_waiting_logs_what_it_waits_for_and_keeps_saying_so(caplog):
    progress = Progress(10, desc="meta-train", log_every=5)   # not a terminal: plain log lines
    with caplog.at_level(logging.INFO, logger="metagan"):
        with progress.waiting("compiling the meta-step", every=0.01, log_after=0.1):
            time.sleep(0.35)
        progress.update(5)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "compiling the meta-step ..."
    still = [line for line in lines if line.endswith("s so far")]
    assert 2 <= len(still) <= 4 and all(line.startswith("compiling the meta-step ...") for line in still)
    assert lines[-1].startswith("meta-train 5/10")          # the ticker stopped with the block


def test_waiting_shows_nothing_when_disabled(caplog):
    with caplog.at_level(logging.INFO, logger="metagan"):
        with Progress(10, enabled=False).waiting("compiling the meta-step", every=0.01, log_after=0.02):
            time.sleep(0.1)
    assert not caplog.records
