"""A task config -> its images and its meta-train / held-out classes, and the device
layout that episodes are sampled from."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from metagan_cli.config import DataConfig, MetaLearnConfig, TaskConfig
from metagan_cli.core.episodes import ClassImages
from metagan_cli.data.cache import cache_dir, cached_source
from metagan_cli.data.source import SourceImages
from metagan_cli.errors import UserError

SOURCES = ("sklearn_digits", "tfds", "folder")


@dataclass(frozen=True)
class TaskData:
    pixels: np.ndarray            # [N, S, S, C] uint8
    labels: np.ndarray            # [N] int32
    class_names: list[str]
    train_classes: tuple[int, ...]
    test_classes: tuple[int, ...]
    validation_classes: tuple[int, ...] = ()

    def resolved(self, task: TaskConfig) -> TaskConfig:
        """The task config with its classes spelled out, as saved with a run."""
        return dataclasses.replace(task, train_classes=self.train_classes,
                                   test_classes=self.test_classes,
                                   validation_classes=self.validation_classes)


def load_source(task: TaskConfig, data: DataConfig, channels: int) -> SourceImages:
    size = task.image_size
    if task.source == "sklearn_digits":
        from metagan_cli.data.digits import load_digit_images
        return load_digit_images(size)
    if task.source == "tfds":
        from metagan_cli.data.tfds_source import load_tfds_images, resolve_data_dir
        if not task.tfds_name:
            raise UserError("task.source=tfds needs task.tfds_name= (e.g. mnist)")
        key = {"name": task.tfds_name, "data_dir": str(Path(resolve_data_dir(data.data_dir)).absolute()),
               "splits": [task.tfds_train_split, task.tfds_test_split], "size": size,
               "channels": channels, "invert": task.invert}
        return cached_source(key, lambda: load_tfds_images(
            task.tfds_name, task.tfds_train_split, task.tfds_test_split, size, channels,
            task.invert, data.data_dir), cache_dir(data.cache_dir))
    if task.source == "folder":
        from metagan_cli.data.folder_source import folder_fingerprint, load_folder_images
        key = {"name": "folder", "path": str(Path(data.path or "").absolute()),
               "files": folder_fingerprint(data.path), "size": size, "channels": channels,
               "invert": task.invert}
        return cached_source(key, lambda: load_folder_images(data.path, size, channels, task.invert),
                             cache_dir(data.cache_dir))
    raise UserError(f"task.source='{task.source}' is not known; use one of {', '.join(SOURCES)}")


def read_split_file(split: str) -> dict:
    """A split by name (a file shipped in metagan_cli/data/splits) or by path."""
    path = Path(split).expanduser()
    if path.suffix != ".json" or not path.exists():
        shipped = resources.files("metagan_cli.data") / "splits" / f"{split}.json"
        if not shipped.is_file():
            names = sorted(p.name[:-5] for p in (resources.files("metagan_cli.data") / "splits").iterdir()
                           if p.name.endswith(".json"))
            raise UserError(f"task.split={split}: no such split file (shipped: {', '.join(names)}; "
                            f"or give a path to a .json file)")
        return json.loads(shipped.read_text())
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"task.split={split} is not valid JSON: {err}") from None


def _class_ids(values, names: list[str], what: str) -> tuple[int, ...]:
    """Class ids from ids or names (a folder task's split may list folder names)."""
    index = {name: i for i, name in enumerate(names)}
    ids = []
    for value in values:
        if isinstance(value, int) and 0 <= value < len(names):
            ids.append(value)
        elif isinstance(value, str) and value in index:
            ids.append(index[value])
        else:
            raise UserError(f"{what} names class {value!r}, which the data does not have")
    return tuple(ids)


def _in_group(class_name: str, group: str) -> bool:
    """A class is in a group named by one of its parent folders (``Greek``), by a
    leading part of its path (``images_background/Greek``) or by its own name."""
    group = group.rstrip("/")
    parents = class_name.split("/")[:-1]
    return group in parents or class_name == group or class_name.startswith(group + "/")


def _group_names(class_names: list[str]) -> list[str]:
    """The folders at the first level where the classes' paths part ways."""
    parts = [n.split("/") for n in class_names]
    depth = 0
    while all(len(p) > depth + 1 for p in parts) and len({p[depth] for p in parts}) == 1:
        depth += 1
    return sorted({p[depth] for p in parts if len(p) > depth + 1})


def split_classes(task: TaskConfig, source: SourceImages
                  ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Meta-train, held-out and validation class ids.  Held-out classes by the first rule
    the task sets: a split file, explicit lists, the source's held-out split, a held-out
    group, a held-out fraction; validation classes are then taken out of the rest."""
    train, test = _held_out_split(task, source)
    validation = _validation_classes(task, source, train, test)
    train = tuple(c for c in train if c not in set(validation))
    if not train:
        raise UserError(f"task {task.name}: no meta-train class is left after taking "
                        f"{len(validation)} validation classes; lower task.validation_fraction")
    return train, test, validation


def _validation_classes(task: TaskConfig, source: SourceImages, candidates, test) -> tuple[int, ...]:
    """Validation classes: named ones (any class not held out), or a group or fraction
    of ``candidates`` (the meta-train classes)."""
    names = source.class_names
    if task.split and "validation_classes" in (spec := read_split_file(task.split)):
        chosen = _class_ids(spec["validation_classes"], names, f"split {task.split}")
    elif task.validation_classes and (task.split or task.test_classes):
        chosen = _class_ids(task.validation_classes, names, "task.validation_classes")
    elif task.validation_group:
        chosen = _group_classes(candidates, names, task.validation_group, "task.validation_group")
    elif task.validation_fraction:
        # its own fixed shuffle, independent of seed= and of the held-out rule's
        chosen = _fixed_share(candidates, task.validation_fraction, shuffle_seed=1)
    else:
        chosen = ()
    stray = sorted(set(chosen) & set(test))
    if stray:
        raise UserError(f"task {task.name}: validation classes {[names[c] for c in stray[:5]]} are "
                        f"held out; validation classes come from the meta-train classes")
    return tuple(chosen)


def _group_classes(classes, names: list[str], group: str, key: str) -> tuple[int, ...]:
    chosen = tuple(c for c in classes if _in_group(names[c], group))
    if not chosen:
        groups = _group_names([names[c] for c in classes])
        raise UserError(f"{key}={group} matches no class among {len(classes)}; "
                        f"groups: {', '.join(groups[:20])}")
    return chosen


def _fixed_share(classes, fraction: float, shuffle_seed: int) -> tuple[int, ...]:
    """A fraction (at least one) of ``classes`` by a fixed shuffle, sorted."""
    order = np.random.default_rng(shuffle_seed).permutation(np.asarray(classes))
    count = max(1, int(round(fraction * len(classes))))
    return tuple(sorted(int(c) for c in order[:count]))


def _held_out_split(task: TaskConfig, source: SourceImages) -> tuple[tuple[int, ...], tuple[int, ...]]:
    names = source.class_names
    present = sorted(set(source.labels.tolist()))
    if task.split:
        spec = read_split_file(task.split)
        test = _class_ids(spec.get("test_classes", []), names, f"split {task.split}")
        train = (_class_ids(spec["train_classes"], names, f"split {task.split}")
                 if "train_classes" in spec else tuple(c for c in present if c not in test))
    elif task.test_classes:
        test = _class_ids(task.test_classes, names, "task.test_classes")
        train = (_class_ids(task.train_classes, names, "task.train_classes") if task.train_classes
                 else tuple(c for c in present if c not in test))
    elif source.held_out_split_classes:
        test = source.held_out_split_classes
        train = tuple(c for c in present if c not in set(test))
    elif task.holdout_group:
        test = _group_classes(present, names, task.holdout_group, "task.holdout_group")
        train = tuple(c for c in present if c not in set(test))
    elif task.holdout_fraction:
        # a fixed shuffle, independent of seed=, so every run of a task shares one split
        test = _fixed_share(present, task.holdout_fraction, shuffle_seed=0)
        train = tuple(c for c in present if c not in set(test))
    else:
        raise UserError(f"task {task.name} does not say which classes are held out; set task.split=, "
                        f"task.test_classes=, task.holdout_group= or task.holdout_fraction=")
    if set(train) & set(test):
        raise UserError(f"task {task.name}: classes {sorted(set(train) & set(test))[:5]} are "
                        f"both meta-train and held out")
    if len(train) < 1 or len(test) < 1:
        raise UserError(f"task {task.name} needs at least one meta-train and one held-out class "
                        f"(has {len(train)} and {len(test)})")
    return tuple(train), tuple(test)


def load_task(cfg: MetaLearnConfig) -> TaskData:
    source = load_source(cfg.task, cfg.data, cfg.model.channels)
    train, test, validation = split_classes(cfg.task, source)
    return TaskData(source.pixels, source.labels, source.class_names, train, test, validation)


def to_class_images(data: TaskData) -> ClassImages:
    """Sorts by class and moves the uint8 pixels to the device; class c's images start
    at offsets[c]."""
    order = np.argsort(data.labels, kind="stable")
    labels = data.labels[order]
    counts = np.bincount(labels, minlength=len(data.class_names))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return ClassImages(images=jnp.asarray(data.pixels[order]),
                       offsets=jnp.asarray(offsets, jnp.int32),
                       counts=jnp.asarray(counts, jnp.int32),
                       max_count=int(counts.max()))


def check_enough_images(data: TaskData, classes, needed: int, what: str) -> None:
    counts = np.bincount(data.labels, minlength=len(data.class_names))
    short = [c for c in classes if counts[c] < needed]
    if short:
        c = short[0]
        raise UserError(f"class {data.class_names[c]} has {counts[c]} images but {what} needs "
                        f"{needed} ({len(short)} class(es) too small); lower shots= or remove them")
