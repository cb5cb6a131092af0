"""TFDS datasets (MNIST, Omniglot) read through ``as_data_source``: ArrayRecord random
access, so no TensorFlow is needed at run time and nothing is ever downloaded here.

The data dir is ``data.data_dir`` if set, else ``$TFDS_DATA_DIR``, else TFDS's default
(``~/tensorflow_datasets``).  An unprepared dataset is an error that names the dir
and gives the command that prepares it.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from metagan_cli.data.imaging import array_to_pixels, should_invert
from metagan_cli.data.source import SourceImages
from metagan_cli.errors import UserError

log = logging.getLogger("metagan")


def resolve_data_dir(data_dir: str | None) -> str:
    if data_dir:
        return str(Path(data_dir).expanduser())
    return os.environ.get("TFDS_DATA_DIR") or str(Path.home() / "tensorflow_datasets")


def prepare_command(name: str, data_dir: str) -> str:
    return (f"pip install 'metagan[prepare]' && tfds build {name} --data_dir={data_dir} "
            f"--file_format=array_record")


def _not_prepared(name: str, data_dir: str, detail: str = "") -> UserError:
    return UserError(
        f"TFDS dataset '{name}' is not prepared in {data_dir}{detail}; point data.data_dir= "
        f"(or TFDS_DATA_DIR) at a prepared data dir, or prepare it (needs network): "
        f"{prepare_command(name, data_dir)}")


def _open_split(builder, name: str, split: str, data_dir: str):
    try:
        return builder.as_data_source(split=split)
    except Exception as err:   # TFDS raises several types for a missing or TFRecord-only dir
        if not builder.is_prepared():
            raise _not_prepared(name, data_dir) from None
        if "file format" in str(err).lower() or "random access" in str(err).lower():
            raise _not_prepared(name, data_dir, " as ArrayRecord (it holds another file format)") from None
        if "split" in str(err).lower():
            raise UserError(f"TFDS dataset '{name}' has no split '{split}' ({err})") from None
        raise


def load_tfds_images(name: str, train_split: str, test_split: str | None, size: int,
                     channels: int, invert: bool | str, data_dir: str | None) -> SourceImages:
    """Reads ``train_split`` (and ``test_split``, whose classes become the held-out ones)."""
    import tensorflow_datasets as tfds

    data_dir = resolve_data_dir(data_dir)
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise UserError(f"TFDS has no dataset named '{name}'") from None
    splits = [train_split] + ([test_split] if test_split else [])
    pixels, labels, split_of = [], [], []
    for index, split in enumerate(splits):
        source = _open_split(builder, name, split, data_dir)
        log.info("reading TFDS %s[%s]: %d images from %s", name, split, len(source), data_dir)
        for i in range(len(source)):
            example = source[i]
            pixels.append(array_to_pixels(example["image"], size, channels))
            labels.append(int(example["label"]))
            split_of.append(index)
    pixels, labels, split_of = np.stack(pixels), np.asarray(labels, np.int32), np.asarray(split_of)
    if should_invert(pixels, invert):
        pixels = 255 - pixels
    names = _class_names(builder, int(labels.max()) + 1)
    held_out = tuple(sorted(set(labels[split_of == 1].tolist()))) if test_split else ()
    return SourceImages(pixels, labels, names, held_out)


def _class_names(builder, count: int) -> list[str]:
    try:
        names = list(builder.info.features["label"].names)
    except (KeyError, AttributeError):
        names = []
    return names if len(names) >= count else [str(i) for i in range(count)]
