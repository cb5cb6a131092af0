"""The evaluator network: a small CNN classifier trained by metagan on a task's
meta-train classes only, whose penultimate features serve for every distance in eval.

It never sees a held-out class, so distances between held-out images measure what a
network learned about the *domain* (strokes, digits, glyphs), not the answer.  Training
is deterministic from a fixed seed (same data, same weights on the same backend), and
the weights are cached on disk keyed by the data's fingerprint, the class split, the
image size and ``EVALUATOR_VERSION``.  Outputs name the evaluator by
``evaluator_id``: a hash of its weights and of the class split.  Figures are
comparable only between evals whose evaluator version (and ideally id) match.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

log = logging.getLogger("metagan")

EVALUATOR_VERSION = "cnn-v2"
FEATURE_DIM = 64
TRAIN_STEPS = 600
BATCH = 128
LEARNING_RATE = 2e-3
VALIDATION_FRACTION = 0.1
EVALUATOR_SEED = 0   # fixed: the evaluator does not change with eval's seed=


class EvaluatorNet(nn.Module):
    """3x3 conv blocks (32, 64, 64 channels, each followed by 2x2 average pooling while
    the map is larger than 4x4) -> linear FEATURE_DIM bottleneck (the features) -> class
    logits.  The features are linear (no ReLU): a ReLU bottleneck can die entirely on
    tasks with many small classes, leaving every feature at zero."""
    num_classes: int

    @nn.compact
    def __call__(self, x, features_only: bool = False):
        for width in (32, 64, 64):
            x = nn.Conv(width, (3, 3))(x)
            x = nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=-1)(x)
            x = nn.relu(x)
            if x.shape[1] > 4:
                x = nn.avg_pool(x, (2, 2), (2, 2))
        x = x.reshape(x.shape[0], -1)
        features = nn.Dense(FEATURE_DIM, name="features")(x)
        if features_only:
            return features
        return nn.Dense(self.num_classes, name="logits")(features)


def data_fingerprint(pixels: np.ndarray, labels: np.ndarray, classes) -> str:
    """sha256 of the uint8 images and labels of ``classes`` (what the evaluator trains on)."""
    keep = np.isin(labels, np.asarray(classes))
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(pixels[keep]).tobytes())
    digest.update(np.ascontiguousarray(labels[keep].astype(np.int64)).tobytes())
    return digest.hexdigest()


def split_hash(class_names, train_classes, test_classes) -> str:
    spec = {"train": [class_names[c] for c in train_classes],
            "test": [class_names[c] for c in test_classes]}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def weights_hash(params) -> str:
    digest = hashlib.sha256()
    for path, leaf in sorted(jax.tree_util.tree_leaves_with_path(params), key=lambda p: str(p[0])):
        digest.update(jax.tree_util.keystr(path).encode())
        digest.update(np.ascontiguousarray(np.asarray(leaf, np.float32)).tobytes())
    return digest.hexdigest()


@dataclass
class Evaluator:
    params: dict
    num_classes: int
    image_size: int
    weights_sha256: str
    split_sha256: str
    validation_accuracy: float
    train_images: int
    feature_scale: float = 1.0
    train_steps: int = 0
    from_cache: bool = False

    @property
    def evaluator_id(self) -> str:
        return f"{EVALUATOR_VERSION}:{self.weights_sha256[:12]}:{self.split_sha256[:12]}"

    def features(self, images: np.ndarray) -> np.ndarray:
        """Features of images in [-1, 1], times the fixed ``feature_scale``."""
        return raw_features(self.params, self.num_classes, images) * self.feature_scale

    def describe(self) -> dict:
        return {"id": self.evaluator_id, "version": EVALUATOR_VERSION,
                "weights_sha256": self.weights_sha256, "split_sha256": self.split_sha256,
                "description": (f"CNN classifier ({self.num_classes} classes) trained by metagan on "
                                f"the task's meta-train classes only; {FEATURE_DIM}-d penultimate "
                                f"features. Not Inception."),
                "trained_on_classes": self.num_classes, "train_images": self.train_images,
                "validation_accuracy_on_meta_train_classes": round(self.validation_accuracy, 4),
                "feature_scale": self.feature_scale,
                "train_steps": self.train_steps, "seed": EVALUATOR_SEED, "loaded_from_cache": self.from_cache}


_FEATURE_FNS: dict = {}
PAD = 64   # feature batches are padded to a multiple of this: few shapes, few compiles


def raw_features(params, num_classes: int, images: np.ndarray) -> np.ndarray:
    fn = _jitted_features(num_classes)
    images = np.asarray(images, np.float32)
    n = len(images)
    if n == 0:
        return np.zeros((0, FEATURE_DIM), np.float32)
    out = []
    for i in range(0, n, 512):
        part = images[i:i + 512]
        padded = -(-len(part) // PAD) * PAD
        if padded != len(part):
            part = np.concatenate([part, np.zeros((padded - len(part), *part.shape[1:]), np.float32)])
        out.append(np.asarray(fn(params, jnp.asarray(part)))[:min(512, n - i)])
    return np.concatenate(out)


def _jitted_features(num_classes: int):
    if num_classes not in _FEATURE_FNS:
        net = EvaluatorNet(num_classes)
        _FEATURE_FNS[num_classes] = jax.jit(
            lambda params, x: net.apply({"params": params}, x, features_only=True))
    return _FEATURE_FNS[num_classes]


def _train(images: np.ndarray, targets: np.ndarray, num_classes: int, steps: int) -> tuple[dict, float]:
    """Adam on cross-entropy, batches drawn from a fixed key; returns (params, accuracy
    on the held-back validation images of the same classes)."""
    rng = np.random.default_rng(EVALUATOR_SEED)
    order = rng.permutation(len(images))
    n_val = max(1, int(len(images) * VALIDATION_FRACTION)) if len(images) > 10 else 0
    val, train = order[:n_val], order[n_val:]
    x_train, y_train = jnp.asarray(images[train]), jnp.asarray(targets[train])
    net = EvaluatorNet(num_classes)
    key = jax.random.PRNGKey(EVALUATOR_SEED)
    params = net.init(jax.random.fold_in(key, 0), x_train[:1])["params"]
    tx = optax.adam(LEARNING_RATE)
    opt = tx.init(params)
    batch = min(BATCH, len(train))

    @jax.jit
    def step(params, opt, i):
        idx = jax.random.choice(jax.random.fold_in(key, i + 1), len(train), (batch,), replace=False)
        x, y = x_train[idx], y_train[idx]
        # light augmentation: shifts of up to 2 pixels, so features tolerate small offsets
        shift = jax.random.randint(jax.random.fold_in(key, -(i + 1)), (2,), -2, 3)
        x = jnp.roll(x, (shift[0], shift[1]), axis=(1, 2))

        def loss_fn(p):
            logits = net.apply({"params": p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        grads = jax.grad(loss_fn)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt

    for i in range(steps):
        params, opt = step(params, opt, i)
    params = jax.device_get(params)
    if not n_val:
        return params, float("nan")
    logits = jax.jit(lambda p, x: net.apply({"params": p}, x))(params, jnp.asarray(images[val]))
    return params, float(np.mean(np.asarray(logits).argmax(1) == targets[val]))


def load_or_train(pixels: np.ndarray, labels: np.ndarray, class_names, train_classes, test_classes,
                  cache: Path | None, steps: int = TRAIN_STEPS) -> Evaluator:
    """The evaluator for this data and split: from ``cache`` when it holds one with the
    same key, else trained (deterministically) and stored there."""
    from metagan_cli.data.imaging import to_model_input
    train_classes = tuple(int(c) for c in train_classes)
    size = int(pixels.shape[1])
    split = split_hash(class_names, train_classes, test_classes)
    key = {"version": EVALUATOR_VERSION, "data": data_fingerprint(pixels, labels, train_classes),
           "split": split, "image_size": size, "steps": steps, "seed": EVALUATOR_SEED}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    path = cache / "evaluators" / f"evaluator-{digest}.npz" if cache is not None else None
    num_classes = len(train_classes)
    if path is not None and path.is_file():
        try:
            with np.load(path) as stored:
                flat = {k: stored[k] for k in stored.files if k not in ("_meta",)}
                meta = json.loads(str(stored["_meta"]))
            params = _unflatten(flat)
            return Evaluator(params, num_classes, size, weights_hash(params), split,
                             meta["validation_accuracy"], meta["train_images"], meta["feature_scale"],
                             steps, from_cache=True)
        except (OSError, KeyError, ValueError):
            log.warning("ignoring a damaged evaluator cache file %s", path)
    log.info("training the evaluator network on %d meta-train classes (%s, %d steps)",
             num_classes, EVALUATOR_VERSION, steps)
    keep = np.isin(labels, np.asarray(train_classes))
    index = {c: i for i, c in enumerate(train_classes)}
    targets = np.asarray([index[int(c)] for c in labels[keep]], np.int32)
    train_images = to_model_input(pixels[keep])
    params, accuracy = _train(train_images, targets, num_classes, steps)
    # one fixed scalar so that features have unit mean variance per dimension on
    # meta-train images (KID's kernel and FID then take values in a familiar range)
    probe = train_images[np.random.default_rng(EVALUATOR_SEED).permutation(len(train_images))[:1024]]
    spread = float(np.mean(raw_features(params, num_classes, probe).var(0)))
    if not np.isfinite(spread) or spread < 1e-10:
        raise RuntimeError(f"the evaluator network's features collapsed (variance {spread:.3g}, "
                           f"validation accuracy {accuracy:.3f}); not caching it")
    scale = float(np.float32(1.0 / np.sqrt(max(spread, 1e-12))))
    evaluator = Evaluator(params, num_classes, size, weights_hash(params), split, accuracy,
                          int(keep.sum()), scale, steps)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
            meta = {"validation_accuracy": accuracy, "train_images": int(keep.sum()),
                    "feature_scale": scale, **key}
            np.savez(tmp, _meta=np.asarray(json.dumps(meta)), **_flatten(params))
            os.replace(tmp, path)
        except OSError as err:
            log.warning("could not cache the evaluator in %s (%s)", path.parent, err)
    return evaluator


def _flatten(params, prefix: str = "") -> dict:
    out = {}
    for k, v in params.items():
        name = f"{prefix}/{k}" if prefix else k
        if isinstance(v, dict):
            out.update(_flatten(v, name))
        else:
            out[name] = np.asarray(v)
    return out


def _unflatten(flat: dict) -> dict:
    out: dict = {}
    for name, value in flat.items():
        node = out
        parts = name.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = jnp.asarray(value)
    return out
