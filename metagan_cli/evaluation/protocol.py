"""The eval's three measurements, for one meta-training run and its baselines.

1. Generation: for every class and episode, K support shots are drawn; each method
   adapts to them once along one trajectory and is read off at every budget; every
   metric of the registry is measured on its samples against the class's unseen real
   images.  Methods share support sets, latents and keys, so differences between
   methods are paired by unit (class, episode).
2. Classification: N-way K-shot episodes, each drawing its own classes, support shots
   and query images; nearest-prototype accuracy with the shots alone and with M
   generated images per class added (the generators adapted on that episode's shots).
3. The low-data protocol (DAGAN, F2GAN's table): the first k real images of each
   held-out class, plus M images from a method, train a classifier from scratch on
   pixels; it is tested on the class's other real images, for several classifier seeds.

Every random draw comes from ``fold_in`` of the eval key, so the same command and seed
give the same numbers, and every run of a multi-seed eval sees the same support sets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import jax
import numpy as np

from metagan_cli.config import ClassificationConfig, LowDataConfig
from metagan_cli.data.imaging import to_model_input
from metagan_cli.evaluation import metrics as M
from metagan_cli.evaluation.methods import Trajectory, copy_shots
from metagan_cli.evaluation.evaluator import Evaluator

# fold_in tags inside the eval key
GENERATION, SCRATCH_INIT, PROTOTYPES, CLASSIFICATION, LOW_DATA, TUNING = range(6)
REAL_ONLY = "real shots only"
STANDARD = "Standard (real only)"
AUGMENTED = "traditional augmentation"


def augmented_row(method: str) -> str:
    """The low-data row of ``method``'s images, each traditionally augmented once."""
    return f"{method} + {AUGMENTED}"


def mixed_row(method: str) -> str:
    """The low-data row of M images, half ``method``'s and half traditional augmentation's."""
    return f"half {method}, half {AUGMENTED}"


def mix_with_augmentation(generated: np.ndarray, augmented: np.ndarray) -> np.ndarray:
    """M images: the first M // 2 of ``generated`` and the first M - M // 2 of
    ``augmented`` (both M long), so that the mixture differs from the augmentation row
    only in the images the generator replaced."""
    half = len(augmented) // 2
    return np.concatenate([generated[:half], augmented[:len(augmented) - half]])


def np_seed(key) -> list[int]:
    """A numpy seed from a (raw uint32) JAX key, so numpy draws derive from the root key."""
    return [int(v) for v in np.asarray(key).ravel()]


@dataclass
class Method:
    """How one method turns support shots into images: ``init`` gives the GAN to adapt
    (per episode key), ``trajectory`` adapts it; neither: the shots are copied."""
    name: str
    init: Callable[[jax.Array], dict] | None = None
    trajectory: Trajectory | None = None
    lr: float | None = None                          # None: the trajectory's own rate
    settings: dict = field(default_factory=dict)     # what the report prints
    sample: Callable | None = None                   # its own sampler (another architecture); None: the eval's
    budget: int | None = None                        # its budget in the low-data protocol; None: the eval's

    @property
    def generates(self) -> bool:
        return self.init is not None

    def images(self, support, keys, budgets: Sequence[int], n: int, sample) -> list[np.ndarray]:
        """Images in [-1, 1] at each budget; ``keys`` = (init, adapt, sample)."""
        if not self.generates:
            return [copy_shots(support, n)] * len(budgets)
        init_key, adapt_key, sample_key = keys
        support = jax.numpy.asarray(support)
        generators = self.trajectory.run(self.init(init_key), support, adapt_key, budgets, self.lr)
        sample = self.sample or sample
        return [np.asarray(sample(g, sample_key, support))[:n] for g in generators]


@dataclass
class Context:
    """What every run of one eval shares: the data, the evaluator, the sampler."""
    pixels: np.ndarray
    labels: np.ndarray
    names: list
    evaluator: Evaluator
    sample: Callable            # (g params, key, support) -> images, at least as many as any stage needs
    key: jax.Array              # the eval key
    reference: object = None    # ReferenceClassifier over all classes, or None

    def __post_init__(self):
        self._index = {}

    def class_index(self, c: int) -> np.ndarray:
        """Indices of class c's images in the data's order (its "first" images come first)."""
        if c not in self._index:
            self._index[c] = np.flatnonzero(self.labels == c)
        return self._index[c]

    def features(self, images) -> np.ndarray:
        return self.evaluator.features(images)


@dataclass
class Measured:
    """Values per (method, budget, metric), one per unit, in the order of ``units``."""
    units: list
    values: dict
    grids: dict


def _prototypes(ctx: Context, classes, real_images: int, stream: int) -> np.ndarray:
    """Mean features of a fixed subset of every class's real images."""
    rng = np.random.default_rng(np_seed(jax.random.fold_in(ctx.key, stream)))
    return np.stack([ctx.features(to_model_input(
        ctx.pixels[rng.permutation(ctx.class_index(c))[:real_images]])).mean(0) for c in classes])


def measure_generation(ctx: Context, methods: list[Method], classes, episodes: int, shots: int,
                       budgets: Sequence[int], samples: int, real_images: int, stream: int = GENERATION,
                       grid_classes: int = 0, grid_samples: int = 0, on_unit=None) -> Measured:
    """Every registered metric for every method, budget and unit (class, episode)."""
    budgets = sorted(set(budgets))
    metrics = M.generation_metrics(ctx.reference is not None)
    units = [(c, e) for c in classes for e in range(episodes)]
    values = {(m.name, b, metric.name): np.full(len(units), np.nan)
              for m in methods for b in budgets for metric in metrics}
    protos = _prototypes(ctx, classes, real_images, PROTOTYPES + 100 * stream)
    base = jax.random.fold_in(ctx.key, stream)
    grids: dict = {}
    for u, (c, e) in enumerate(units):
        ci = list(classes).index(c)
        key = jax.random.fold_in(jax.random.fold_in(base, c), e)
        perm_key, init_key, adapt_key, sample_key = jax.random.split(key, 4)
        order = np.random.default_rng(np_seed(perm_key)).permutation(ctx.class_index(c))
        support = to_model_input(ctx.pixels[order[:shots]])
        real = to_model_input(ctx.pixels[order[shots:shots + real_images]])
        f_support, f_real = ctx.features(support), ctx.features(real)
        target_protos = protos.copy()
        target_protos[ci] = f_real.mean(0)     # the target's prototype excludes the shots
        hits = None
        if ctx.reference is not None:
            hits = lambda images, c=c: ctx.reference.predict(images) == c
        show = ci < grid_classes and e == 0
        if show:
            grids[c] = {"support": support, "samples": {}}
        for method in methods:
            outputs = method.images(support, (init_key, adapt_key, sample_key), budgets, samples, ctx.sample)
            for budget, images in zip(budgets, outputs):
                read = M.Read(ctx.features(images), f_real, f_support, f_real[:shots], target_protos,
                              ci, images, hits)
                for metric in metrics:
                    values[(method.name, budget, metric.name)][u] = metric.measure(read)
                if show:
                    grids[c]["samples"][(method.name, budget)] = images[:grid_samples]
        if on_unit is not None:
            on_unit()
    return Measured(units, values, grids)


def way_label(ways: int, held_out: int) -> str:
    """"5way" where 5 < the held-out classes; else every class: "all_3way"."""
    return f"{ways}way" if ways < held_out else f"all_{held_out}way"


def classification_episode(key, ctx: Context, classes, ways: int, shots: int, queries: int):
    """One episode's draw: [(class, support indices, query indices)] for ``ways``
    classes (all when ``ways`` >= their number), support and queries disjoint."""
    rng = np.random.default_rng(np_seed(key))
    chosen = (list(classes) if ways >= len(classes)
              else [classes[i] for i in sorted(rng.choice(len(classes), ways, replace=False))])
    draw = []
    for c in chosen:
        order = rng.permutation(ctx.class_index(c))
        draw.append((c, order[:shots], order[shots:shots + queries]))
    return draw


def measure_classification(ctx: Context, methods: list[Method], classes, cfg: ClassificationConfig,
                           shots: int, budgets: Sequence[int], on_episode=None) -> dict:
    """{way label: {"ways": n, "episodes": [draw summaries], "accuracy": {(method, budget):
    [accuracy per episode]}}}; the real-only row is keyed (REAL_ONLY, budget)."""
    budgets = sorted(set(budgets))
    generators = [m for m in methods if m.generates]
    out = {}
    base = jax.random.fold_in(ctx.key, CLASSIFICATION)
    for ways in dict.fromkeys(min(w, len(classes)) for w in cfg.ways):
        label = way_label(ways, len(classes))
        acc = {(REAL_ONLY, b): [] for b in budgets}
        acc.update({(m.name, b): [] for m in generators for b in budgets})
        draws = []
        for e in range(cfg.episodes):
            key = jax.random.fold_in(jax.random.fold_in(base, ways), e)
            draw_key, method_key = jax.random.split(key)
            draw = classification_episode(draw_key, ctx, classes, ways, shots, cfg.queries)
            draws.append([(int(c), s.tolist()) for c, s, _ in draw])
            supports = [to_model_input(ctx.pixels[s]) for _, s, _ in draw]
            f_support = [ctx.features(s) for s in supports]
            f_query = np.concatenate([ctx.features(to_model_input(ctx.pixels[q])) for _, _, q in draw])
            truth = np.concatenate([[j] * len(q) for j, (_, _, q) in enumerate(draw)])
            real_protos = np.stack([f.mean(0) for f in f_support])
            real_acc = float(np.mean(M.prototype_predict(f_query, real_protos) == truth))
            for b in budgets:
                acc[(REAL_ONLY, b)].append(real_acc)
            if not cfg.generated_per_class:
                continue
            generated = {}    # (method, budget) -> per class features
            for j, support in enumerate(supports):
                keys = jax.random.split(jax.random.fold_in(method_key, j), 3)
                for m in generators:
                    outputs = m.images(support, keys, budgets, cfg.generated_per_class, ctx.sample)
                    for b, images in zip(budgets, outputs):
                        generated.setdefault((m.name, b), []).append(ctx.features(images))
            for (name, b), per_class in generated.items():
                protos = np.stack([np.concatenate([fs, fg]).mean(0) for fs, fg in zip(f_support, per_class)])
                acc[(name, b)].append(float(np.mean(M.prototype_predict(f_query, protos) == truth)))
            if on_episode is not None:
                on_episode()
        out[label] = {"ways": ways, "episodes": draws,
                      "accuracy": {k: np.asarray(v) for k, v in acc.items() if v}}
    return out


def low_data_ks(ctx: Context, classes, ks: Sequence[int]) -> list[int]:
    """The k of ``ks`` for which every class has k + 5 images or more."""
    fewest = min(len(ctx.class_index(c)) for c in classes)
    return [k for k in sorted(set(ks)) if fewest >= k + 5]


def measure_low_data(ctx: Context, methods: list[Method], classes, cfg: LowDataConfig, shots: int,
                     budget: int, seed: int, standard_rows: bool = True, augmented: Sequence[str] = (),
                     mixed: Sequence[str] = ()) -> dict:
    """{(k, row): accuracy per classifier seed}.  Rows: Standard and traditional
    augmentation (when ``standard_rows``; they do not depend on the run), then each
    method adding M images made from the first K of the class's k images, adapted for
    ``budget`` steps (or the method's own budget); for each method named in
    ``augmented`` its M images once more, each traditionally augmented; for each named in
    ``mixed`` (with ``standard_rows``) half its images and half traditional augmentation's."""
    ks = low_data_ks(ctx, classes, cfg.ks)
    if not ks:
        return {}
    from metagan_cli.evaluation.low_data import ClassifierRecipe, train_and_test, traditional_augment
    recipe = ClassifierRecipe(steps=cfg.classifier_steps)
    first = {c: ctx.class_index(c) for c in classes}
    k_max = max(ks)
    test = [(c, first[c][k_max:k_max + cfg.test_images]) for c in classes]
    test_x = np.concatenate([to_model_input(ctx.pixels[i]) for _, i in test])
    test_y = np.concatenate([[j] * len(i) for j, (_, i) in enumerate(test)]).astype(np.int32)
    base = jax.random.fold_in(ctx.key, LOW_DATA)
    extra: dict = {}        # row -> class -> M images (k-independent: made from the first K)
    for j, c in enumerate(classes):
        shots_c = to_model_input(ctx.pixels[first[c][:min(shots, ks[0])]])
        keys = jax.random.split(jax.random.fold_in(base, c), 3)
        for m in methods:
            own = budget if m.budget is None else m.budget
            extra.setdefault(m.name, {})[c] = m.images(shots_c, keys, [own], cfg.generated, ctx.sample)[0]
    classifier_seeds = [seed * 1000 + i for i in range(cfg.seeds)]
    out = {}
    for k in ks:
        real = {c: to_model_input(ctx.pixels[first[c][:k]]) for c in classes}
        rows = {}
        if standard_rows:
            rows[STANDARD] = {}
            rng = np.random.default_rng(np_seed(jax.random.fold_in(base, 10_000 + k)))
            rows[AUGMENTED] = {c: traditional_augment(real[c], cfg.generated, rng) for c in classes}
        rows.update(extra)
        if augmented:
            rng = np.random.default_rng(np_seed(jax.random.fold_in(base, 20_000 + k)))
            for name in augmented:
                rows[augmented_row(name)] = {c: traditional_augment(extra[name][c], cfg.generated, rng)
                                             for c in classes}
        if standard_rows:
            for name in mixed:
                rows[mixed_row(name)] = {c: mix_with_augmentation(extra[name][c], rows[AUGMENTED][c])
                                         for c in classes}
        for row, added in rows.items():
            xs = [np.concatenate([real[c], added[c]]) if c in added else real[c] for c in classes]
            train_x = np.concatenate(xs)
            train_y = np.concatenate([[j] * len(x) for j, x in enumerate(xs)]).astype(np.int32)
            out[(k, row)] = np.asarray(train_and_test(train_x, train_y, test_x, test_y, len(classes),
                                                      classifier_seeds, recipe))
    return out
