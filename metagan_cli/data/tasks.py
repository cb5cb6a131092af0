"""A task config -> its labelled images, and labelled images -> the device layout."""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from metagan_cli.config import DataConfig, TaskConfig
from metagan_cli.core.episodes import ClassImages
from metagan_cli.errors import UserError


@dataclass(frozen=True)
class LabelledImages:
    images: np.ndarray   # [N, H, W, C] float32 in [-1, 1]
    labels: np.ndarray   # [N] int32 class ids

    def of_class(self, cls: int) -> np.ndarray:
        return self.images[self.labels == cls]


def load_task_images(task: TaskConfig, image_size: int, data: DataConfig) -> LabelledImages:
    if task.source == "sklearn_digits":
        from metagan_cli.data.digits import load_digit_images
        images, labels = load_digit_images(image_size)
    else:
        raise UserError(f"task.source='{task.source}' is not known; use sklearn_digits")
    known = set(np.unique(labels).tolist())
    missing = sorted(set(task.train_classes + task.test_classes) - known)
    if missing:
        raise UserError(f"task {task.name} names classes {missing} that its data does not have")
    return LabelledImages(images, labels)


def to_class_images(data: LabelledImages, num_classes: int | None = None) -> ClassImages:
    """Sorts by class and moves to the device; class c's images start at offsets[c]."""
    order = np.argsort(data.labels, kind="stable")
    labels = data.labels[order]
    num_classes = num_classes or int(labels.max()) + 1
    counts = np.bincount(labels, minlength=num_classes)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return ClassImages(images=jnp.asarray(data.images[order]),
                       offsets=jnp.asarray(offsets, jnp.int32),
                       counts=jnp.asarray(counts, jnp.int32),
                       max_count=int(counts.max()))


def check_enough_images(data: LabelledImages, classes, needed: int, what: str) -> None:
    for cls in classes:
        have = int(np.sum(data.labels == cls))
        if have < needed:
            raise UserError(f"class {cls} has {have} images but {what} needs {needed}; "
                            f"lower shots= or choose other classes")
