"""A reference classifier over *all* classes of a task, used for evaluation only.

It is trained on the held-out classes too (they are needed to recognise them), so it
never feeds back into meta-training; every output that uses it says so.  An RBF SVM on
pixels is accurate on the 8x8 digits (about 98-99% on unseen images) and trains in a
second; its held-out accuracy is reported beside every figure it produces.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from metagan_cli.data.imaging import to_model_input

DESCRIPTION = ("reference classifier (RBF SVM on pixels) trained by metagan on all classes, "
               "held-out ones included, for evaluation only")


@dataclass
class ReferenceClassifier:
    model: SVC
    test_accuracy: float
    train_size: int
    test_size: int

    @classmethod
    def fit(cls, pixels: np.ndarray, labels: np.ndarray, seed: int = 0,
            max_per_class: int = 400) -> "ReferenceClassifier":
        """Fits on at most ``max_per_class`` uint8 images per class (an SVM's cost grows
        with the square of the training set), a fixed subset for a given seed; it then
        classifies model outputs in [-1, 1]."""
        rng = np.random.default_rng(seed)
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:max_per_class]
                                       for c in np.unique(labels)]))
        images, labels = to_model_input(pixels[keep]), labels[keep]
        flat = images.reshape(len(images), -1)
        x_train, x_test, y_train, y_test = train_test_split(
            flat, labels, test_size=0.25, random_state=seed, stratify=labels)
        model = SVC(gamma="scale").fit(x_train, y_train)
        accuracy = float(np.mean(model.predict(x_test) == y_test))
        return cls(model, accuracy, len(x_train), len(x_test))

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.model.predict(np.asarray(images).reshape(len(images), -1))

    def describe(self) -> dict:
        return {"description": DESCRIPTION, "held_out_accuracy": round(self.test_accuracy, 4),
                "train_images": self.train_size, "held_out_images": self.test_size}
