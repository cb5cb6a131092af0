"""The low-data protocol's classifier (trained from scratch on real MNIST digits) and
its traditional augmentation."""
import os
from pathlib import Path

import jax
import numpy as np
import pytest

from metagan_cli.evaluation.low_data import (
    MIN_TRAIN_BUCKET, TEST_CHUNK, ClassifierRecipe, predict_classes, traditional_augment,
    train_and_test, train_classifiers)
from metagan_cli.evaluation.protocol import mix_with_augmentation

DIGITS = (7, 8, 9)          # similar strokes: harder than a random three
pytestmark = pytest.mark.xdist_group("low_data_mnist")   # one worker reads MNIST once
SHOTS = 5                   # the protocol's smallest k
TEST_PER_DIGIT = 100        # 300 test images: more than one TEST_CHUNK
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def mnist_digits():
    """(train_x, train_y, test_x, test_y): the first SHOTS images of each of DIGITS in
    TFDS mnist's train split, then the next TEST_PER_DIGIT; float32 [-1, 1], 28x28x1."""
    data_dir = os.environ.get("TFDS_DATA_DIR")
    if not data_dir:
        pytest.skip("TFDS_DATA_DIR is not set (point it at a TFDS data dir holding mnist, "
                    "e.g. ../shared/tfds)")
    if not (Path(data_dir) / "mnist").is_dir():
        pytest.skip(f"TFDS mnist is not prepared in TFDS_DATA_DIR={data_dir}")
    tfds = pytest.importorskip("tensorflow_datasets")
    source = tfds.data_source("mnist", data_dir=data_dir)["train"]
    wanted = SHOTS + TEST_PER_DIGIT
    pixels = {digit: [] for digit in DIGITS}
    for index in range(len(source)):
        record = source[index]
        found = pixels.get(int(record["label"]))
        if found is not None and len(found) < wanted:
            found.append(record["image"])
        if all(len(found) == wanted for found in pixels.values()):
            break

    def split(part):
        images = [np.stack(pixels[digit][part]) for digit in DIGITS]
        labels = [np.full(len(block), label) for label, block in enumerate(images)]
        return np.concatenate(images).astype(np.float32) / 127.5 - 1.0, np.concatenate(labels)

    return (*split(slice(0, SHOTS)), *split(slice(SHOTS, wanted)))


@pytest.fixture(scope="module")
def mnist_accuracies(mnist_digits):
    return train_and_test(*mnist_digits, num_classes=len(DIGITS), seeds=SEEDS)


@pytest.mark.slow      # reads real MNIST and trains classifiers
def test_classifier_learns_mnist_digits_from_five_shots(mnist_accuracies):
    assert mnist_accuracies.shape == (len(SEEDS),) and mnist_accuracies.dtype == np.float64
    # Chance is 1/3; this recipe measured 0.73, 0.79 and 0.85 here.
    assert mnist_accuracies.mean() > 0.6, mnist_accuracies
    assert mnist_accuracies.min() > 0.45, mnist_accuracies


@pytest.mark.slow
def test_same_seeds_same_classifiers_and_each_seed_its_own(mnist_digits, mnist_accuracies):
    """Training again from the same seeds (through the two halves of train_and_test)
    gives the same accuracies exactly; the seeds' classifiers differ from each other."""
    train_x, train_y, test_x, test_y = mnist_digits
    params = train_classifiers(train_x, train_y, len(DIGITS), SEEDS)
    predicted = predict_classes(params, test_x, len(DIGITS))
    assert predicted.shape == (len(SEEDS), len(test_x))
    np.testing.assert_array_equal((predicted == test_y).mean(axis=1), mnist_accuracies)

    leaves = jax.tree_util.tree_leaves(params)
    assert all(leaf.shape[0] == len(SEEDS) for leaf in leaves)
    for a in range(len(SEEDS)):
        for b in range(a + 1, len(SEEDS)):
            assert any(not np.array_equal(leaf[a], leaf[b]) for leaf in leaves), (a, b)


def test_classifier_shapes_buckets_and_chunks():
    """16x16 images (the other size of the protocol's tasks), a training set beyond the
    smallest bucket and a test set of several chunks: the halves of the image tell the
    two classes apart, so a short recipe separates them."""
    rng = np.random.default_rng(0)

    def halves(count):
        labels = rng.integers(0, 2, count)
        images = np.full((count, 16, 16, 1), -1.0, np.float32)
        for i, label in enumerate(labels):
            images[i, :, 8 * label:8 * label + 8] = rng.uniform(0.0, 1.0, (16, 8, 1))
        return images, labels

    train_x, train_y = halves(MIN_TRAIN_BUCKET + 1)
    test_x, test_y = halves(2 * TEST_CHUNK + 3)
    accuracies = train_and_test(train_x, train_y, test_x, test_y, num_classes=2, seeds=[3, 4],
                                recipe=ClassifierRecipe(steps=30, lr=3e-3))
    assert accuracies.shape == (2,) and accuracies.dtype == np.float64
    assert np.all(accuracies > 0.95), accuracies


def test_classifier_rejects_bad_inputs():
    images = np.zeros((4, 16, 16, 1), np.float32)
    with pytest.raises(ValueError):
        train_and_test(images, [0, 1, 2, 3], images, [0, 1, 0, 1], num_classes=3, seeds=[0])
    with pytest.raises(ValueError):
        train_and_test(images, [0, 1, 0], images, [0, 1, 0, 1], num_classes=2, seeds=[0])
    with pytest.raises(ValueError):
        train_and_test(images, [0, 1, 0, 1], images, [0, 1, 0, 1], num_classes=2, seeds=[])


def blobs(size=32):
    """Three bright Gaussian blobs at different off-centre places, background -1: wide
    enough that a shifted, rotated copy still correlates well with its source."""
    rows, cols = np.mgrid[:size, :size]
    centres = [(0.3, 0.3), (0.7, 0.4), (0.45, 0.7)]
    spread = 0.15 * size
    images = [2.0 * np.exp(-((rows - r * size) ** 2 + (cols - c * size) ** 2) / (2 * spread ** 2)) - 1.0
              for r, c in centres]
    return np.stack(images)[..., None].astype(np.float32)


def correlation(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_traditional_augment_transforms_image_i_mod_n():
    images = blobs()
    augmented = traditional_augment(images, 30, np.random.default_rng(0))
    assert augmented.shape == (30, 32, 32, 1) and augmented.dtype == np.float32
    assert augmented.min() >= -1.0 and augmented.max() <= 1.0
    mass = (images + 1.0).sum(axis=(1, 2, 3))
    for i, image in enumerate(augmented):
        source = i % len(images)
        assert np.abs(image - images[source]).max() > 0.02          # moved, not copied
        own = correlation(image, images[source])
        assert 0.5 < own < 1.0
        assert all(own > correlation(image, images[other])
                   for other in range(len(images)) if other != source)
        # scaling by 0.9-1.1 changes the area by 0.81-1.21; the blobs stay inside
        assert 0.7 < (image + 1.0).sum() / mass[source] < 1.3


def test_traditional_augment_is_deterministic_and_random():
    images = blobs(16)
    first = traditional_augment(images, 7, np.random.default_rng(5))
    np.testing.assert_array_equal(first, traditional_augment(images, 7, np.random.default_rng(5)))
    assert not np.array_equal(first, traditional_augment(images, 7, np.random.default_rng(6)))
    assert traditional_augment(images, 0, np.random.default_rng(0)).shape == (0, 16, 16, 1)


def test_the_mixed_row_replaces_half_the_augmented_images_by_generated_ones():
    generated, augmented = np.full((7, 4, 4, 1), 1.0), np.full((7, 4, 4, 1), -1.0)
    augmented[:, 0, 0, 0] = np.arange(7)          # which augmented image went where
    mixed = mix_with_augmentation(generated, augmented)
    assert mixed.shape == (7, 4, 4, 1)
    assert (mixed[:3] == 1.0).all()                                        # M // 2 generated
    np.testing.assert_array_equal(mixed[3:], augmented[:4])                # the augmentation row's first 4
    assert mix_with_augmentation(generated[:1], augmented[:1])[0, 0, 0, 0] == 0   # M = 1: augmentation alone
