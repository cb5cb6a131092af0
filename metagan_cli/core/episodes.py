"""Episodes (a task's support and query images) sampled on the device.

Images of all classes live in one array sorted by class; a class's images are the
slice ``offsets[c] : offsets[c] + counts[c]``.  Sampling without replacement inside a
class uses random scores masked past the class's count, so every shape is static and
the whole thing jit-compiles.
"""
from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class ClassImages:
    images: jax.Array        # [N, H, W, C] uint8 pixels, sorted by class (4x smaller than float)
    offsets: jax.Array       # [num_classes] int32: first index of each class
    counts: jax.Array        # [num_classes] int32: images per class
    max_count: int = flax.struct.field(pytree_node=False, default=0)

    @property
    def num_classes(self) -> int:
        return self.offsets.shape[0]


def sample_from_class(key: jax.Array, data: ClassImages, cls: jax.Array, n: int) -> jax.Array:
    """``n`` distinct images of class ``cls`` (needs counts[cls] >= n), in [-1, 1]."""
    scores = jax.random.uniform(key, (data.max_count,))
    scores = jnp.where(jnp.arange(data.max_count) < data.counts[cls], scores, jnp.inf)
    picks = jnp.argsort(scores)[:n]
    return data.images[data.offsets[cls] + picks].astype(jnp.float32) / 127.5 - 1.0


def sample_episodes(key: jax.Array, data: ClassImages, classes: jax.Array,
                    tasks: int, shots: int, queries: int = 0):
    """``tasks`` distinct classes drawn from ``classes`` (with replacement only when there
    are fewer classes than tasks); per task ``shots`` support and ``queries`` query
    images, all distinct.  Returns (class ids [T], support [T, K, ...], query [T, Q, ...])."""
    class_key, image_key = jax.random.split(key)
    chosen = jax.random.choice(class_key, classes, (tasks,), replace=tasks > classes.shape[0])
    keys = jax.random.split(image_key, tasks)
    images = jax.vmap(lambda k, c: sample_from_class(k, data, c, shots + queries))(keys, chosen)
    return chosen, images[:, :shots], images[:, shots:]


def sample_pooled(key: jax.Array, data: ClassImages, classes: jax.Array, n: int) -> jax.Array:
    """``n`` images drawn from the pooled images of ``classes`` (a class uniformly, then an
    image of it uniformly; with replacement), in [-1, 1]: plain GAN training batches."""
    class_key, image_key = jax.random.split(key)
    return _with_replacement(image_key, data, jax.random.choice(class_key, classes, (n,)))


def sample_one_class(key: jax.Array, data: ClassImages, classes: jax.Array, n: int) -> jax.Array:
    """``n`` images of one class drawn uniformly from ``classes`` (with replacement), in
    [-1, 1]: the batches that teach a support-conditioned generator to follow its shots."""
    class_key, image_key = jax.random.split(key)
    return _with_replacement(image_key, data, jnp.full((n,), jax.random.choice(class_key, classes)))


def _with_replacement(key: jax.Array, data: ClassImages, chosen: jax.Array) -> jax.Array:
    """One image of each class in ``chosen``, uniformly and independently, in [-1, 1]."""
    picks = jnp.floor(jax.random.uniform(key, chosen.shape) * data.counts[chosen]).astype(jnp.int32)
    return data.images[data.offsets[chosen] + picks].astype(jnp.float32) / 127.5 - 1.0
