"""metrics.jsonl (one JSON object per logged step) and TensorBoard events."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class MetricsLog:
    """Appends to metrics.jsonl. ``resume_step``: records after it (logged by a run stopped
    before its next checkpoint) are dropped, since the resumed run logs those steps again."""

    def __init__(self, run_dir: str | Path, tensorboard: bool = True, resume_step: int | None = None):
        run_dir = Path(run_dir)
        path = run_dir / "metrics.jsonl"
        if resume_step is not None and path.is_file():
            _drop_records_after(path, resume_step)
        self._file = open(path, "a", buffering=1)
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter
            self._tb = SummaryWriter(str(run_dir / "tensorboard"))

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, record["step"])

    def image(self, tag: str, grid, step: int) -> None:
        if self._tb is not None:
            pixels = np.asarray(grid)
            pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
            self._tb.add_image(tag, pixels, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _drop_records_after(path: Path, step: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.strip() and _step_of(line) <= step]
    if len(kept) != len(lines):
        partial = path.with_name(path.name + ".partial")
        partial.write_text("".join(kept))
        partial.replace(path)          # atomic: the old log stays whole until the new one is


def _step_of(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("inf")            # a line cut off mid-write: dropped with the rest
