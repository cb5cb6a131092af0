"""Image conversion shared by every source: any mode, depth and size -> uint8 pixels at
the model's resolution, and uint8 pixels -> model input in [-1, 1].

Images are grayscale with the strokes bright on a dark background (MNIST's and the
digits' convention); ``invert`` flips sources drawn dark on light, such as Omniglot.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from metagan_cli.errors import UserError

log = logging.getLogger("metagan")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def to_pixels(image: Image.Image, size: int, channels: int = 1) -> np.ndarray:
    """A PIL image of any mode -> uint8 [size, size, channels] (alpha dropped on black)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    elif image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):   # 16-bit and float images
        array = np.asarray(image, dtype=np.float64)
        span = max(array.max() - array.min(), 1e-12)
        image = Image.fromarray(np.uint8(np.round(255 * (array - array.min()) / span)))
    image = image.convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8).reshape(size, size, channels)


def array_to_pixels(array: np.ndarray, size: int, channels: int = 1) -> np.ndarray:
    """A uint8 [H, W] or [H, W, C] array -> uint8 [size, size, channels]."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return to_pixels(Image.fromarray(array), size, channels)


def to_model_input(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [-1, 1]."""
    return np.asarray(pixels, np.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Model output in [-1, 1] -> uint8 pixels."""
    return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def should_invert(pixels: np.ndarray, invert: bool | str) -> bool:
    """``auto`` inverts images whose background is light (mean above mid-grey)."""
    if invert == "auto":
        return float(np.mean(pixels)) > 127.5
    return bool(invert)


def read_image(file: Path, size: int, channels: int = 1) -> np.ndarray:
    """One image file -> uint8 pixels, or a UserError that names the file."""
    if file.stat().st_size == 0:
        raise UserError(f"image file {file} is empty (0 bytes); remove or replace it")
    try:
        with Image.open(file) as image:
            image.load()
            return to_pixels(image, size, channels)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        reason = str(err).split("\n")[0] or err.__class__.__name__
        raise UserError(f"cannot read image {file}: {reason}; remove or replace the file") from None


def image_files(folder: Path, warn_skipped: bool = True) -> list[Path]:
    """The image files directly inside ``folder``, sorted; other files are skipped with a warning."""
    files, skipped = [], []
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            (files if path.suffix.lower() in IMAGE_SUFFIXES else skipped).append(path)
    if skipped and warn_skipped:
        log.warning("skipping %d non-image file(s) in %s (e.g. %s)", len(skipped), folder, skipped[0].name)
    return files


def load_image_folder(path: str | Path, size: int, channels: int = 1, min_images: int = 1,
                      invert: bool | str = "auto") -> np.ndarray:
    """All images directly inside ``path`` (``adapt images=``), as model input in [-1, 1]."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UserError(f"images={path}: no such folder; give a folder of image files")
    if not folder.is_dir():
        raise UserError(f"images={path} is a file; give the folder that holds the images")
    files = image_files(folder)
    if not files:
        raise UserError(f"images={path} holds no image files (PNG or JPEG expected)")
    if len(files) < min_images:
        raise UserError(f"images={path} holds {len(files)} image files, {min_images} needed "
                        f"(lower shots= or add images)")
    pixels = np.stack([read_image(f, size, channels) for f in files])
    if should_invert(pixels, invert):
        pixels = 255 - pixels
    return to_model_input(pixels)
