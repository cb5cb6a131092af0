"""Class-indexed image arrays are built once per (source, resolution, files) and kept
as .npz files, so a rerun, adapt or eval does not decode every image again.

The directory is ``data.cache_dir``, else ``$METAGAN_DATA_CACHE``, else
``~/.cache/metagan/datasets``; ``off`` disables caching.  Files are written to a
temporary name and renamed, so a crash never leaves a half-written cache entry.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

from metagan_cli.data.source import SourceImages

log = logging.getLogger("metagan")
FORMAT_VERSION = 1


def cache_dir(configured: str | None) -> Path | None:
    where = configured or os.environ.get("METAGAN_DATA_CACHE") or str(Path.home() / ".cache" / "metagan" / "datasets")
    return None if where.lower() in ("off", "none", "0") else Path(where).expanduser()


def cached_source(key: dict, build: Callable[[], SourceImages], directory: Path | None) -> SourceImages:
    if directory is None:
        return build()
    digest = hashlib.sha256(json.dumps({**key, "format": FORMAT_VERSION}, sort_keys=True).encode()).hexdigest()
    path = directory / f"{key.get('name', 'data')}-{digest[:20]}.npz"
    if path.is_file():
        try:
            with np.load(path) as stored:
                return SourceImages(stored["pixels"], stored["labels"], stored["class_names"].tolist(),
                                    tuple(stored["held_out_split_classes"].tolist()))
        except (OSError, KeyError, ValueError):
            log.warning("ignoring a damaged dataset cache file %s", path)
    images = build()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, pixels=images.pixels, labels=images.labels,
                 class_names=np.asarray(images.class_names),
                 held_out_split_classes=np.asarray(images.held_out_split_classes, np.int64))
        os.replace(tmp, path)
    except OSError as err:
        log.warning("could not write the dataset cache in %s (%s); continuing without it", directory, err)
    return images
