"""PNG grids of images in [-1, 1]; small images are enlarged (nearest) to be seen."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from metagan_cli.data.imaging import to_uint8

MIN_CELL = 48   # pixels per image in a saved grid


def _scale(size: int) -> int:
    return max(1, math.ceil(MIN_CELL / size))


def tile(images: np.ndarray, columns: int | None = None, pad: int = 2) -> Image.Image:
    """[N, H, W, C] in [-1, 1] -> one PIL image, ``columns`` per row."""
    pixels = to_uint8(images)
    n, h, w, c = pixels.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    s = _scale(h)
    canvas = np.full((rows * (h * s + pad) + pad, columns * (w * s + pad) + pad, c), 64, np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        cell = pixels[i].repeat(s, 0).repeat(s, 1)
        y, x = pad + r * (h * s + pad), pad + col * (w * s + pad)
        canvas[y:y + h * s, x:x + w * s] = cell
    return Image.fromarray(canvas[..., 0] if c == 1 else canvas)


def save_grid(path: str | Path, images: np.ndarray, columns: int | None = None) -> Image.Image:
    """Saves the grid as PNG and returns it (e.g. for TensorBoard)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = tile(images, columns)
    grid.save(path)
    return grid


def save_labelled_rows(path: str | Path, rows: list[tuple[str, np.ndarray]], columns: int) -> Image.Image:
    """Stacks labelled grids vertically: e.g. support shots, before, after adaptation."""
    panels = [(label, tile(images, columns)) for label, images in rows]
    width = max(p.width for _, p in panels)
    label_h = 14
    height = sum(p.height + label_h for _, p in panels)
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    y = 0
    for label, panel in panels:
        draw.text((4, y + 1), label, fill=255)
        canvas.paste(panel.convert("L"), (0, y + label_h))
        y += panel.height + label_h
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return canvas
