"""metrics.jsonl (one JSON object per logged step) and TensorBoard events."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class MetricsLog:
    def __init__(self, run_dir: str | Path, tensorboard: bool = True):
        run_dir = Path(run_dir)
        self._file = open(run_dir / "metrics.jsonl", "a", buffering=1)
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
