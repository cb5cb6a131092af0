"""A folder tree of the user's own images: every folder that directly holds image
files is a class, named by its path below the root, at any depth.  Both the
ImageFolder layout (``root/<class>/*.png``) and Omniglot's
(``root/<alphabet>/<character>/*.png``) work; the first path component is the class's
group (an alphabet), which can be held out as a whole.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from metagan_cli.data.imaging import image_files, read_image, should_invert
from metagan_cli.data.source import SourceImages
from metagan_cli.errors import UserError

log = logging.getLogger("metagan")


def scan_class_folders(path: str | None) -> tuple[Path, dict[str, list[Path]]]:
    """Returns (root, {class name: image files}), checking the layout."""
    if not path or path == "???":
        raise UserError("task=folder needs data.path=DIR, a folder whose subfolders are the classes")
    root = Path(path).expanduser()
    if not root.exists():
        raise UserError(f"data.path={path}: no such folder")
    if not root.is_dir():
        raise UserError(f"data.path={path} is a file; give the folder whose subfolders are the classes")
    classes: dict[str, list[Path]] = {}
    skipped = 0
    for folder in sorted([root, *[p for p in root.rglob("*") if p.is_dir()]]):
        files = image_files(folder, warn_skipped=False)
        skipped += sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) - len(files)
        if files:
            classes[folder.relative_to(root).as_posix() if folder != root else "."] = files
    if skipped:
        log.warning("skipping %d non-image file(s) under %s", skipped, path)
    if not classes:
        raise UserError(f"data.path={path} holds no image files (PNG or JPEG expected) at any depth")
    if list(classes) == ["."] or len(classes) < 2:
        raise UserError(f"data.path={path} has {len(classes)} class folder(s); few-shot meta-learning "
                        f"needs several: put each class's images in its own subfolder")
    if "." in classes:
        raise UserError(f"data.path={path} has images directly in its top folder; "
                        f"move them into a subfolder per class")
    return root, classes


def folder_fingerprint(path: str) -> list:
    """What the cache key depends on: every file's name, size and modification time."""
    _, classes = scan_class_folders(path)
    return [[name, [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]]
            for name, files in classes.items()]


def load_folder_images(path: str, size: int, channels: int, invert: bool | str) -> SourceImages:
    _, classes = scan_class_folders(path)
    pixels, labels = [], []
    for label, files in enumerate(classes.values()):
        pixels.extend(read_image(f, size, channels) for f in files)
        labels.extend([label] * len(files))
    pixels = np.stack(pixels)
    if should_invert(pixels, invert):
        pixels = 255 - pixels
    log.info("read %d images of %d classes from %s", len(pixels), len(classes), path)
    return SourceImages(pixels, np.asarray(labels, np.int32), list(classes))
