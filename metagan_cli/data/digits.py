"""scikit-learn's bundled 8x8 handwritten digits (1,797 real images, 10 classes).

They ship inside the scikit-learn package, so the default task never touches the
network.  Pixel values 0..16 are scaled to 0..255 before resizing.
"""
from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from metagan_cli.data.imaging import uint8_to_model_input


def load_digit_images(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns (images [N, size, size, 1] float32 in [-1, 1], labels [N] int)."""
    digits = load_digits()
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return uint8_to_model_input(pixels, size), digits.target.astype(np.int32)
