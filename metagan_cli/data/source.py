"""What every dataset source returns, before classes are split."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SourceImages:
    pixels: np.ndarray          # [N, S, S, C] uint8, strokes bright
    labels: np.ndarray          # [N] int32 class ids, indexing class_names
    class_names: list[str]      # e.g. "7", or "Greek/character03" for a folder tree
    # classes that come from a designated held-out split of the source (TFDS omniglot's
    # evaluation alphabets); empty when the source has no such split
    held_out_split_classes: tuple[int, ...] = field(default=())
