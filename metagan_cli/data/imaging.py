"""Image conversion shared by every source: any mode and size -> model input in [-1, 1].

Images are grayscale with the strokes bright on a dark background, the convention of
MNIST and of the digits the default task uses.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from metagan_cli.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def to_model_input(image: Image.Image, size: int, channels: int = 1) -> np.ndarray:
    """A PIL image -> float32 [size, size, channels] in [-1, 1]."""
    mode = "L" if channels == 1 else "RGB"
    image = image.convert(mode).resize((size, size), Image.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return array.reshape(size, size, channels)


def uint8_to_model_input(images: np.ndarray, size: int) -> np.ndarray:
    """[N, H, W] uint8 grayscale -> [N, size, size, 1] float32 in [-1, 1]."""
    return np.stack([to_model_input(Image.fromarray(im), size) for im in images])


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Model output in [-1, 1] -> uint8 pixels."""
    return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def load_image_folder(path: str | Path, size: int, channels: int = 1,
                      min_images: int = 1) -> np.ndarray:
    """All images directly inside ``path``, sorted by name, as model input."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UserError(f"images={path}: no such folder; give a folder of image files")
    if not folder.is_dir():
        raise UserError(f"images={path} is a file; give the folder that holds the images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < min_images:
        raise UserError(f"images={path} holds {len(files)} image files, {min_images} needed "
                        f"(PNG or JPEG; lower shots= or add images)")
    loaded = []
    for file in files:
        try:
            with Image.open(file) as image:
                loaded.append(to_model_input(image, size, channels))
        except (UnidentifiedImageError, OSError) as err:
            raise UserError(f"cannot read image {file}: {err.__class__.__name__}; "
                            f"remove or replace the file") from None
    return np.stack(loaded)
