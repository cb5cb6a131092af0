"""The low-data protocol's classifier and its traditional augmentation.

DAGAN (Antoniou et al. 2018) and F2GAN measure few-shot generation as data
augmentation: per held-out class the first k real images form the training set,
optionally with M extra images per class (generated, traditionally augmented or
copied); a small classifier is trained *from scratch on pixels* over all held-out
classes and tested on the classes' other real images.  Several seeds per row give the
spread.

The recipe (``ClassifierRecipe``) is fixed once, for every row and every k: tuning it
on the test images would make the rows incomparable.  All seeds train in one compiled
program (a scan over Adam steps, mapped over the seeds); training sets are padded to a
bucketed size and their real size is a traced scalar, so the rows of an eval share one
compiled program.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

BACKGROUND = -1.0
TEST_CHUNK = 256        # test images classified per call of one fixed-shape program
# Training sets are padded to a power of two, at least this large: an eval's rows (N up
# to ~24 classes x 65 images) then share one program; the padding costs a few MB.
MIN_TRAIN_BUCKET = 2048


@dataclass(frozen=True)
class ClassifierRecipe:
    """The one training recipe of every row: Adam on batches drawn uniformly with
    replacement, a fixed number of steps whatever N (a 15-image set is seen ~1700 times,
    a 1560-image one ~16 times).  Chosen once, on MNIST training images, trading
    accuracy against CPU time (a few seconds per row for three seeds)."""
    steps: int = 400
    batch: int = 64
    lr: float = 1e-3
    width: int = 8      # channels of the first conv block, then 2x and 4x: 16 is a few
                        # points more accurate on MNIST but ~3x slower on a CPU


class Conv3x3(nn.Module):
    """A 3x3 convolution (zero padding 1) written as patches @ kernel: XLA on CPU runs
    ``lax.conv`` (and its gradients) inside a loop body such as the training scan
    10-25x slower than outside one (jax issue #12868), a matmul at full speed in both."""
    features: int
    stride: int = 1

    @nn.compact
    def __call__(self, x):
        in_channels = x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (9 * in_channels, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        s = self.stride
        out_h, out_w = (x.shape[1] - 1) // s + 1, (x.shape[2] - 1) // s + 1
        padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        patches = jnp.concatenate(
            [padded[:, dy:dy + s * (out_h - 1) + 1:s, dx:dx + s * (out_w - 1) + 1:s]
             for dy in range(3) for dx in range(3)], axis=-1)
        return patches @ kernel + bias


class LowDataClassifier(nn.Module):
    """Three 3x3 conv blocks (stride 2, leaky ReLU; width, 2x, 4x channels), then a
    linear head on the flattened map.  Strided convs rather than conv + pooling: the
    same receptive fields at a quarter of the cost, which is what a CPU budget of
    seconds per row allows.  No normalisation layers, so no state and no dependence
    of a prediction on the rest of its batch."""
    num_classes: int
    width: int

    @nn.compact
    def __call__(self, images):
        x = images
        for channels in (self.width, 2 * self.width, 4 * self.width):
            x = nn.leaky_relu(Conv3x3(channels, stride=2)(x), 0.2)
        return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))


def traditional_augment(images: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``images`` float32 [n, S, S, C] in [-1, 1] (background -1) -> float32
    [count, S, S, C] in [-1, 1]: image ``i % n`` shifted by up to 10% of S along each
    axis, rotated by up to 12 degrees and scaled by 0.9-1.1 about the image centre
    (bilinear sampling; pixels from outside the image are background)."""
    images = np.asarray(images, np.float32)
    if count == 0:
        return np.zeros((0, *images.shape[1:]), np.float32)
    if len(images) == 0:
        raise ValueError("traditional_augment needs at least one image")
    size = images.shape[1]
    angle = np.deg2rad(rng.uniform(-12.0, 12.0, count))
    scale = rng.uniform(0.9, 1.1, count)
    shift = rng.uniform(-0.1 * size, 0.1 * size, (count, 2))

    # Inverse mapping: output pixel o reads the source at R(-angle) (o - centre - shift) / scale
    # + centre, so every output pixel gets a value (no holes).
    centre = (size - 1) / 2.0
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    dr = rows[None] - centre - shift[:, 0, None, None]
    dc = cols[None] - centre - shift[:, 1, None, None]
    cos, sin = (np.cos(angle) / scale)[:, None, None], (np.sin(angle) / scale)[:, None, None]
    src_r = cos * dr + sin * dc + centre
    src_c = -sin * dr + cos * dc + centre

    # A one-pixel background border: coordinates clipped onto it read exactly -1, so
    # anything from outside the image is background and bilinear weights need no masks.
    bordered = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=BACKGROUND)
    src_r = np.clip(src_r + 1.0, 0.0, size + 1.0)
    src_c = np.clip(src_c + 1.0, 0.0, size + 1.0)
    r0 = np.minimum(np.floor(src_r).astype(np.int64), size)
    c0 = np.minimum(np.floor(src_c).astype(np.int64), size)
    fr, fc = (src_r - r0)[..., None], (src_c - c0)[..., None]
    source = (np.arange(count) % len(images))[:, None, None]
    out = ((1 - fr) * (1 - fc) * bordered[source, r0, c0]
           + (1 - fr) * fc * bordered[source, r0, c0 + 1]
           + fr * (1 - fc) * bordered[source, r0 + 1, c0]
           + fr * fc * bordered[source, r0 + 1, c0 + 1])
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def _train_bucket(n: int) -> int:
    return max(MIN_TRAIN_BUCKET, 1 << (n - 1).bit_length())


def _pad_to(array: np.ndarray, length: int) -> np.ndarray:
    padding = np.zeros((length - len(array), *array.shape[1:]), array.dtype)
    return np.concatenate([array, padding])


# (num_classes, recipe) -> the jitted (train, predict); jit itself caches one compiled
# program per shape (image size, bucket, number of seeds).
_PROGRAMS: dict = {}


def _programs(num_classes: int, recipe: ClassifierRecipe):
    cache_key = (num_classes, recipe)
    if cache_key not in _PROGRAMS:
        _PROGRAMS[cache_key] = _build_programs(num_classes, recipe)
    return _PROGRAMS[cache_key]


def _build_programs(num_classes: int, recipe: ClassifierRecipe):
    net = LowDataClassifier(num_classes, recipe.width)
    optimizer = optax.adam(recipe.lr)

    def train_one(key, images, labels, count):
        """One classifier from ``key``; batches are drawn among the first ``count``
        (real) images only, the rest is padding."""
        init_key, batch_key = jax.random.split(key)
        params = net.init(init_key, images[:1])["params"]

        def loss(params, batch_images, batch_labels):
            logits = net.apply({"params": params}, batch_images)
            return optax.softmax_cross_entropy_with_integer_labels(logits, batch_labels).mean()

        def step(state, step_key):
            params, opt_state = state
            index = jax.random.randint(step_key, (recipe.batch,), 0, count)
            grads = jax.grad(loss)(params, images[index], labels[index])
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        step_keys = jax.random.split(batch_key, recipe.steps)
        (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), step_keys)
        return params

    # Seeds one after another inside one program (lax.map): on CPU that measured faster
    # than vmap, whose batched matmuls run slower than the same matmuls in turn.
    def train_seeds(keys, images, labels, count):
        return jax.lax.map(lambda key: train_one(key, images, labels, count), keys)

    def predict_seeds(stacked_params, images):
        return jax.lax.map(lambda params: net.apply({"params": params}, images).argmax(-1),
                           stacked_params)

    return jax.jit(train_seeds), jax.jit(predict_seeds)


def _seed_keys(seeds: Sequence[int]) -> jax.Array:
    return jnp.stack([jax.random.PRNGKey(int(seed)) for seed in seeds])


def train_classifiers(train_x, train_y, num_classes: int, seeds: Sequence[int],
                      recipe: ClassifierRecipe = ClassifierRecipe()):
    """The parameters of one classifier per seed, stacked along a leading seed axis."""
    train_x = np.asarray(train_x, np.float32)
    train_y = np.asarray(train_y, np.int32)
    if len(train_x) == 0 or len(train_x) != len(train_y):
        raise ValueError(f"need as many labels as training images, at least one "
                         f"({len(train_x)} images, {len(train_y)} labels)")
    if len(seeds) == 0:
        raise ValueError("need at least one seed")
    if train_y.min() < 0 or train_y.max() >= num_classes:
        raise ValueError(f"training labels must lie in 0..{num_classes - 1}")
    train, _ = _programs(num_classes, recipe)
    bucket = _train_bucket(len(train_x))
    return train(_seed_keys(seeds), _pad_to(train_x, bucket), _pad_to(train_y, bucket),
                 jnp.int32(len(train_x)))


def predict_classes(params, images, num_classes: int,
                    recipe: ClassifierRecipe = ClassifierRecipe()) -> np.ndarray:
    """Predicted labels int [seeds, M] of the classifiers ``params`` (from
    ``train_classifiers``) for ``images`` [M, S, S, C], in chunks of TEST_CHUNK."""
    _, predict = _programs(num_classes, recipe)
    images = np.asarray(images, np.float32)
    chunks = []
    for start in range(0, len(images), TEST_CHUNK):
        chunk = images[start:start + TEST_CHUNK]
        predicted = predict(params, _pad_to(chunk, TEST_CHUNK))
        chunks.append(np.asarray(predicted)[:, :len(chunk)])
    return np.concatenate(chunks, axis=1)


def train_and_test(train_x, train_y, test_x, test_y, num_classes: int, seeds: Sequence[int],
                   recipe: ClassifierRecipe = ClassifierRecipe()) -> np.ndarray:
    """Trains one classifier per seed from scratch on (train_x [N, S, S, C] float in
    [-1, 1], train_y int [N] in 0..num_classes-1) and returns each seed's accuracy on
    (test_x, test_y): float64 [len(seeds)].  Same inputs and seeds, same numbers."""
    test_y = np.asarray(test_y)
    if len(test_y) == 0 or len(test_y) != len(test_x):
        raise ValueError(f"need as many labels as test images, at least one "
                         f"({len(test_x)} images, {len(test_y)} labels)")
    params = train_classifiers(train_x, train_y, num_classes, seeds, recipe)
    predicted = predict_classes(params, test_x, num_classes, recipe)
    return (predicted == test_y[None]).mean(axis=1).astype(np.float64)
