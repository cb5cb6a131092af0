"""scikit-learn's bundled 8x8 handwritten digits (1,797 real images, 10 classes).

They ship inside the scikit-learn package, so the default task never touches the
network.  Pixel values 0..16 are scaled to 0..255 before resizing.
"""
from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from metagan_cli.data.imaging import array_to_pixels
from metagan_cli.data.source import SourceImages


def load_digit_images(size: int) -> SourceImages:
    digits = load_digits()
    raw = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    pixels = np.stack([array_to_pixels(im, size) for im in raw])
    return SourceImages(pixels, digits.target.astype(np.int32), [str(d) for d in range(10)])
