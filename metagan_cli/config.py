"""Frozen configuration dataclasses shared by the command layer and the JAX core.

The command layer turns Hydra's OmegaConf tree into these (``from_dict``) before any
jitted code runs, so the core never sees OmegaConf and every value is type-checked
once, with an error message that names the key.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key and what to do."""


@dataclass(frozen=True)
class TaskConfig:
    """Where a task's images come from and which classes are held out.

    Held-out classes are chosen by the first of: ``split`` (a split file), explicit
    ``test_classes``, the source's own held-out split (``tfds_test_split``),
    ``holdout_group``, ``holdout_fraction``.  Validation classes are then taken from
    the remaining classes (never meta-trained on; training grids, checkpoint selection
    and the eval's baseline tuning use them) by the first of: the split file's
    ``validation_classes``, explicit ``validation_classes``, ``validation_group``,
    ``validation_fraction``.  A run saves the resolved lists.  The defaults are the
    fewshot_digits task."""
    name: str = "fewshot_digits"     # the task's name (run dir names, reports)
    source: str = "sklearn_digits"   # sklearn_digits | tfds | folder
    image_size: int = 16             # images are resized to this; model.image_size follows
    train_classes: tuple[int, ...] = (0, 1, 2, 3, 4, 5)   # meta-train classes ([] = the rest)
    test_classes: tuple[int, ...] = (7, 8, 9)    # held-out classes: only adapt and eval see them
    validation_classes: tuple[int, ...] = (6,)   # never meta-trained on: training grids, baseline tuning
    split: Union[str, None] = None   # a shipped split name or a path to a .json split file
    tfds_name: Union[str, None] = None           # source=tfds: the TFDS dataset name
    tfds_train_split: str = "train"              # source=tfds: the split read for classes
    tfds_test_split: Union[str, None] = None     # source=tfds: its classes are the held-out ones
    invert: Union[bool, str] = False             # true | false | auto (dark strokes on light -> invert)
    holdout_group: Union[str, None] = None       # folder: hold out a top-level folder (an alphabet)
    holdout_fraction: Union[float, None] = None  # a fixed share of the classes held out
    validation_group: Union[str, None] = None    # folder: validation classes under one top-level folder
    validation_fraction: Union[float, None] = None  # a fixed share of the non-held-out classes


@dataclass(frozen=True)
class ModelConfig:
    image_size: int = 16      # square images; set by task.image_size (dcgan: a power of two >= 8; reference: 28)
    channels: int = 1         # 1 = grayscale
    z_dim: int = 64           # latent size
    width: int = 32           # channels of the widest-resolution feature map (x2 per stage)
    norm: str = "layer"       # layer | group (width divisible by 16) | none; no BatchNorm: tasks are adapted alone
    arch: str = "dcgan"       # a model of core/models: dcgan | conditioned (G follows the support set) | dagan (G(x, z) from one shot, D judges pairs) | warp (G deforms its shot; D judges pairs) | reference (the speed benchmark's 28x28 DCGAN)
    conv: str = "auto"        # xla | matmul | auto: how convolutions are computed (speed only, same function)


@dataclass(frozen=True)
class GanLossConfig:
    kind: str = "nonsaturating"   # a loss of core/losses: nonsaturating | wgan_gp | hinge
    gp_weight: float = 10.0       # wgan_gp: weight of the gradient penalty
    kl_weight: float = 0.0        # weight of the optional E_x KL(p(y|x) || p(y)) regulariser; 0 = off
    kl_classes: int = 10          # size of the discriminator's auxiliary class head when kl_weight > 0
    mode_seeking: float = 0.0     # weight of the mode-seeking term in G's loss (MSGAN; core/losses.py); 0 = off


@dataclass(frozen=True)
class AugmentConfig:
    """Differentiable augmentation of the discriminator's inputs, real and generated
    alike, wherever a GAN is trained (inner loops, adaptation, pretraining, the eval's
    baselines; core/augment.py).  Off by default."""
    policy: tuple[str, ...] = ()   # in order, any of: translation, cutout, affine; [] = off
    translation: float = 0.125     # translation: largest shift, as a fraction of the image size
    cutout: float = 0.5            # cutout: side of the square set to background, as a fraction of the size
    affine: float = 0.15           # affine: largest rotation (radians), scale change and shear

    @property
    def on(self) -> bool:
        return bool(self.policy)


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adam"        # an optimiser of core/optim: adam | sgd
    lr: float = 2e-3          # learning rate (inner Adam 2e-3 adapts 32x32 MNIST in 10 steps; 5e-3 breaks it)
    b1: float = 0.5           # adam: first-moment decay
    b2: float = 0.999         # adam: second-moment decay
    momentum: float = 0.0     # sgd: momentum (0 = none)


@dataclass(frozen=True)
class AlgoConfig:
    name: str = "reptile"     # an algorithm of core/algorithms: reptile | fomaml | maml | pretrain | scratch | dagan
    meta_batch: int = 4       # tasks per meta-iteration (pretrain: batches of meta_batch x shots images)
    inner_steps: int = 10     # inner GAN steps per task; also the default adapt.steps
    adapt_steps: Union[int, None] = None   # adapt.steps when not given (adapt, sample, eval); null = inner_steps (DAGAN 0)
    n_critic: int = 1         # discriminator updates per inner step (FIGR: 1; WGAN-GP often 5)
    queries: int = 4          # (fo)maml: query images per task for the outer loss (needs shots + queries per class)
    outer_objective: str = "gan"   # (fo)maml: gan | dawson (G judged by the adapted D trained further on the queries)
    outer_mmd: float = 0.0         # (fo)maml: weight of the pixel MMD between the adapted G's samples and the queries in G's outer loss
    learn_inner_lr: bool = False   # maml: meta-learn a per-parameter inner learning rate (Meta-SGD)
    reuse_fake: bool = False       # the G update reuses the last D update's generated batch (as the PyTorch reference)
    freeze_d: int = 0              # adaptation keeps D's first N stages as meta-learned (FreezeD); not Reptile's inner loop
    adapt_g: str = "all"           # all | norm | spread: adaptation moves every G parameter, only its norms' scale and shift, or (warp) only its noise's spreads
    sample_temperature: float = 1.0   # z ~ N(0, T^2) where adapt, sample and eval draw images (training draws at 1): > 1 strays farther from the shots


@dataclass(frozen=True)
class LoopConfig:
    """How the inner loop and the task batch are laid out for XLA (speed only, same
    maths; core/loop_layout.py)."""
    scan_unroll: Union[int, str] = "auto"     # int >= 1 | full | auto (per backend and model)
    task_batching: str = "auto"              # vmap | map | unrolled | auto (per backend and model)
    remat: Union[bool, str] = False          # false | step (or true) | nested | auto: jax.checkpoint inner steps (less memory for second-order MAML, more compute)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000             # meta-iterations
    log_every: int = 50           # metrics.jsonl, TensorBoard and progress lines
    sample_every: int = 500       # samples/step_XXXXXX.png (adapted to validation classes)
    checkpoint_every: int = 500   # checkpoints/ (orbax, atomic)
    keep_checkpoints: int = 3     # keep the last N


@dataclass(frozen=True)
class DataConfig:
    data_dir: Union[str, None] = None    # TFDS data dir; null = $TFDS_DATA_DIR or ~/tensorflow_datasets
    path: Union[str, None] = None        # task=folder: the root folder of the class folders
    cache_dir: Union[str, None] = None   # built class arrays; null = $METAGAN_DATA_CACHE or ~/.cache/metagan/datasets; off = none


@dataclass(frozen=True)
class DistributedConfig:
    """How a run spreads over devices and hosts.  Not part of a run's identity: a run
    may resume on another number of devices or hosts."""
    initialize: Union[bool, str] = "auto"   # auto (a multi-task Slurm step, or a coordinator) | true | false: start jax.distributed
    coordinator: Union[str, None] = None    # HOST:PORT of process 0; null = detect (Slurm)
    num_processes: Union[int, None] = None  # with an explicit coordinator: how many processes
    process_id: Union[int, None] = None     # with an explicit coordinator: this process's index
    shard_tasks: bool = True                # shard the meta-batch over all devices (meta_batch % devices == 0)
    cpu_devices: Union[int, str] = "auto"   # CPU backend: this host's cores as N XLA devices; auto = the most that divide meta_batch


@dataclass(frozen=True)
class MetaLearnConfig:
    """Everything the core needs to meta-train and adapt; saved with every run."""
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    gan_loss: GanLossConfig = field(default_factory=GanLossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    inner_optim: OptimConfig = field(default_factory=OptimConfig)
    outer_optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-4))   # FIGR: Adam 1e-4, b1 0.5
    loop: LoopConfig = field(default_factory=LoopConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    seed: int = 0             # one root key: every random draw derives from it
    shots: int = 4            # K support images per task


def _check_value(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a group of keys, got {value!r}")
        return from_dict(hint, value, prefix=key + ".")
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _check_value(value, option, key)
            except ConfigError:
                continue
        names = " or ".join(_type_name(a) for a in typing.get_args(hint))
        raise ConfigError(f"{key} must be {names}, got {value!r}")
    if origin is tuple:
        (item_hint, _) = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return tuple(_check_value(v, item_hint, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is type(None):
        if value is not None:
            raise ConfigError(f"{key} must be null, got {value!r}")
        return None
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint} for {key}")


def _type_name(hint: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false",
            type(None): "null"}.get(hint, str(hint))


def from_dict(cls, values: dict, prefix: str = ""):
    """Builds dataclass ``cls`` from a plain dict, type-checking every field."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown config key '{prefix}{unknown[0]}' "
                          f"(known keys here: {', '.join(sorted(names))})")
    kwargs = {name: _check_value(values[name], hints[name], prefix + name)
              for name in names if name in values}
    return cls(**kwargs)


def to_dict(config) -> dict:
    """The inverse of ``from_dict``: JSON-ready nested dicts (tuples become lists)."""
    def convert(value):
        if isinstance(value, tuple):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value
    return convert(dataclasses.asdict(config))


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric key: ``low``/``high`` inclusive unless ``open_low``/
    ``open_high``; None = unbounded.  The upper bounds stop values that would exhaust
    memory or time before anything useful happens, far above any real setting."""
    low: Union[float, None] = None
    high: Union[float, None] = None
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, value) -> bool:
        return ((self.low is None or (value > self.low if self.open_low else value >= self.low))
                and (self.high is None or (value < self.high if self.open_high else value <= self.high)))

    def __str__(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.open_low else '>='} {_number(self.low)}")
        if self.high is not None:
            parts.append(f"{'<' if self.open_high else '<='} {_number(self.high)}")
        return " and ".join(parts)


def _number(x) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def check_ranges(values: dict[str, Any], ranges: dict[str, Range]) -> None:
    """One ConfigError naming the first key (dotted) whose value (or list item) is out of
    range.  A key without a range is not checked (tests/test_bad_values.py requires one)."""
    for key, value in values.items():
        for item in (value if isinstance(value, (tuple, list)) else (value,)):
            if item is not None and key in ranges and item not in ranges[key]:
                shown = list(value) if isinstance(value, (tuple, list)) else value
                raise ConfigError(f"{key} must be {ranges[key]}, got {shown}")


def numeric_values(config, prefix: str = "") -> dict[str, Any]:
    """Every numeric leaf of a config dataclass (lists of numbers included), by dotted key."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out.update(numeric_values(value, f"{prefix}{f.name}."))
        elif _is_number(value) or (isinstance(value, tuple) and value and all(map(_is_number, value))):
            out[prefix + f.name] = value
    return out


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_FRACTION = Range(0.0, 1.0, open_high=True)   # [0, 1)
_STEPS = Range(0, 1_000_000)                   # a loop's steps: seconds each on CPU
# The allowed range of every numeric key of MetaLearnConfig (and of the task's class
# lists); tests/test_bad_values.py fails on a numeric key missing from it.
META_TRAIN_RANGES: dict[str, Range] = {
    "seed": Range(0, 2**32 - 1),          # JAX keys hold 32 bits of it: larger seeds would repeat
    "shots": Range(1, 100_000),
    "task.image_size": Range(1, 1024), "model.image_size": Range(1, 1024),
    "task.train_classes": Range(0), "task.test_classes": Range(0), "task.validation_classes": Range(0),
    "task.holdout_fraction": Range(0.0, 1.0, open_low=True, open_high=True),
    "task.validation_fraction": _FRACTION,
    "model.channels": Range(1, 4), "model.z_dim": Range(1, 65_536), "model.width": Range(1, 4096),
    "algo.meta_batch": Range(1, 65_536), "algo.inner_steps": _STEPS, "algo.adapt_steps": _STEPS, "algo.n_critic": Range(1, 1000),
    "algo.queries": Range(1, 100_000), "algo.outer_mmd": Range(0.0), "algo.freeze_d": Range(0, 1000),
    "algo.sample_temperature": Range(0.0, 100.0, open_low=True),
    "gan_loss.gp_weight": Range(0.0), "gan_loss.kl_weight": Range(0.0),
    "gan_loss.kl_classes": Range(2, 100_000), "gan_loss.mode_seeking": Range(0.0),
    "augment.translation": _FRACTION, "augment.cutout": _FRACTION, "augment.affine": _FRACTION,
    **{f"{opt}.{key}": rng for opt in ("inner_optim", "outer_optim") for key, rng in (
        ("lr", Range(0.0, open_low=True)), ("b1", _FRACTION), ("b2", _FRACTION), ("momentum", _FRACTION))},
    "loop.scan_unroll": Range(1, 1_000_000),
    "train.steps": Range(1, 2**31 - 1),   # meta-step numbers are folded into 32-bit keys
    "train.log_every": Range(1), "train.sample_every": Range(1), "train.checkpoint_every": Range(1),
    "train.keep_checkpoints": Range(1),
}


def validate(cfg: MetaLearnConfig) -> MetaLearnConfig:
    """Checks relations between values that types alone do not catch."""
    # the registries of the core name the allowed choices (imported here: they import JAX)
    from metagan_cli.core.algorithms import ALGORITHMS
    from metagan_cli.core.algorithms.maml import OUTER_OBJECTIVES
    from metagan_cli.core.loop_layout import REMAT_MODES, TASK_BATCHINGS
    from metagan_cli.core.losses import GAN_LOSSES
    from metagan_cli.core.models import CONV_IMPLS, MODELS, allowing_partial_g, check_model
    from metagan_cli.core.models.layers import NORMS
    from metagan_cli.core.optim import OPTIMIZERS
    check_ranges(numeric_values(cfg), META_TRAIN_RANGES)
    size = cfg.model.image_size
    if size != cfg.task.image_size:
        raise ConfigError(f"model.image_size ({size}) differs from task.image_size "
                          f"({cfg.task.image_size}); set task.image_size instead")
    algorithm = ALGORITHMS.get(cfg.algo.name)
    GAN_LOSSES.get(cfg.gan_loss.kind)
    OPTIMIZERS.get(cfg.inner_optim.name, key="inner_optim.name")
    OPTIMIZERS.get(cfg.outer_optim.name, key="outer_optim.name")
    MODELS.get(cfg.model.arch)
    choices = {
        "model.norm": (cfg.model.norm, NORMS),
        "model.conv": (cfg.model.conv, ("auto",) + CONV_IMPLS),
        "algo.outer_objective": (cfg.algo.outer_objective, OUTER_OBJECTIVES),
        "loop.task_batching": (cfg.loop.task_batching, ("auto",) + TASK_BATCHINGS),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got '{value}'")
    if cfg.loop.remat not in (False, True, "auto") + REMAT_MODES:
        raise ConfigError(f"loop.remat must be false, step (or true), nested or auto; "
                          f"got '{cfg.loop.remat}'")
    check_model(cfg.model)
    if algorithm.model and cfg.model.arch != algorithm.model:
        raise ConfigError(f"algo={cfg.algo.name} trains model={algorithm.model} only (its default); "
                          f"got model={cfg.model.arch}")
    from metagan_cli.core.augment import TRANSFORMS
    from metagan_cli.core.partial_adaptation import ADAPT_G
    if cfg.algo.adapt_g not in ADAPT_G:
        raise ConfigError(f"algo.adapt_g must be one of {', '.join(ADAPT_G)}; got '{cfg.algo.adapt_g}'")
    partial_g = MODELS.get(cfg.model.arch).partial_g
    if cfg.algo.adapt_g == "norm" and (cfg.model.norm == "none" or "norm" not in partial_g):
        raise ConfigError(f"algo.adapt_g=norm needs a generator with normalisation layers "
                          f"(model={', '.join(allowing_partial_g('norm'))} with model.norm=layer or group)")
    if cfg.algo.adapt_g == "spread" and "spread" not in partial_g:
        raise ConfigError(f"algo.adapt_g=spread adapts the warp generator's spreads; use "
                          f"model={' or '.join(allowing_partial_g('spread'))} (or algo.adapt_g=all or norm)")
    if cfg.algo.outer_mmd and not algorithm.needs_queries:
        raise ConfigError(f"algo.outer_mmd scores adapted samples against query images, which "
                          f"algo={cfg.algo.name} has none of; use algo=maml or algo=fomaml")
    for name in cfg.augment.policy:
        if name not in TRANSFORMS:
            raise ConfigError(f"augment.policy: unknown transformation '{name}'; "
                              f"choose from {', '.join(TRANSFORMS)}")
    unroll = cfg.loop.scan_unroll
    if isinstance(unroll, str) and unroll not in ("auto", "full"):
        raise ConfigError(f"loop.scan_unroll must be a positive integer, 'full' or 'auto'; got '{unroll}'")
    if cfg.algo.learn_inner_lr and not algorithm.second_order:
        second = ", ".join(a.name for a in ALGORITHMS if a.second_order)
        raise ConfigError(f"algo.learn_inner_lr=true needs a second-order algorithm ({second}): the "
                          f"learning rates get their gradient by differentiating through the inner loop")
    if cfg.task.invert not in (True, False, "auto"):
        raise ConfigError(f"task.invert must be true, false or auto; got '{cfg.task.invert}'")
    lists = {"train_classes": set(cfg.task.train_classes), "test_classes": set(cfg.task.test_classes),
             "validation_classes": set(cfg.task.validation_classes)}
    for a, b in (("train_classes", "test_classes"), ("train_classes", "validation_classes"),
                 ("validation_classes", "test_classes")):
        xs, ys = lists[a], lists[b]
        if xs & ys:
            raise ConfigError(f"task.{a} and task.{b} share classes {sorted(xs & ys)}; "
                              f"a class belongs to one list only")
    return cfg


# ---- metagan eval -------------------------------------------------------------------

BASELINE_ADAPT = ("all", "run")
EVAL_CLASSES = ("held_out", "validation")


@dataclass(frozen=True)
class BaselinesConfig:
    copy: bool = True                 # copy the shots
    scratch: bool = True              # a fresh GAN trained on the shots
    pretrain: str = "train"           # train: an algo=pretrain GAN with the checkpoint's budget, into <eval dir>/pretrain; RUN_DIR: an algo=pretrain run, or a dir of them matched by seed (a sweep dir, an earlier eval dir); off
    dagan: str = "off"                # RUN_DIR: an algo=dagan run of the same task and split (or a dir of them matched by seed), generating from the shots and fine-tuned by its own inner loop; off
    adapt: str = "all"                # all: scratch and pretrain + fine-tune fine-tune every parameter; run: with the run's partial
                                      # adaptation too (algo.freeze_d, algo.adapt_g), as the evaluated method adapts


@dataclass(frozen=True)
class TuningConfig:
    """The baselines' own fine-tuning optimiser, chosen on validation classes."""
    lrs: tuple[float, ...] = (1e-4, 5e-4, 2e-3)   # Adam (b1 0.5) learning rates tried; [] = off
    classes: int = 4                  # at most this many validation classes
    episodes: int = 1                 # support sets per validation class
    samples: int = 32                 # generated images per read-off


@dataclass(frozen=True)
class ClassificationConfig:
    """N-way K-shot nearest-prototype episodes, each with its own support and query sets."""
    ways: tuple[int, ...] = (5, 20)   # N >= the held-out classes: one "all held-out" record
    episodes: int = 10                # classification episodes per way count
    queries: int = 5                  # real query images per class and episode
    generated_per_class: int = 20     # M generated images added to each class's K shots
    budgets: Union[tuple[int, ...], None] = None   # adaptation steps; null = the run's algo.inner_steps, and 0 where a method generates without adaptation (DAGAN)


@dataclass(frozen=True)
class LowDataConfig:
    """The low-data protocol (DAGAN; F2GAN's table): the first k real images of each
    held-out class train a classifier from scratch, with or without M added images."""
    ks: tuple[int, ...] = (5, 10, 15)  # the first k real images per class train the classifier (where a class has k + 5)
    generated: int = 50               # M images added per class by each method (or by traditional augmentation)
    seeds: int = 3                    # classifier seeds (from scratch, fixed recipe)
    test_images: int = 200            # at most this many test images per class
    budget: Union[int, None] = None   # adaptation steps for every method; null = each at adapt's default (the run's algo.inner_steps; DAGAN 0)
    choose_budget: tuple[int, ...] = ()   # candidate budgets: each generator (each run's own) uses the one with the best
                                      # low-data accuracy at the smallest k on the validation classes; [] = off (budget applies)
    classifier_steps: int = 400       # the classifier's training steps (part of the fixed recipe)
    augment_generated: bool = False   # also a row of the evaluated generator's M images, each traditionally augmented once,
                                      # paired with traditional augmentation: does it add what augmenting the real images does not?
    mix_augmented: bool = False       # also a row of M images, half the evaluated generator's and half traditional augmentation's
                                      # (the same augmented images), paired with traditional augmentation: at equal count, do
                                      # generated images add what more augmented ones do not?


@dataclass(frozen=True)
class EvalConfig:
    classes: str = "held_out"         # held_out | validation: the classes measured; validation (never meta-trained on) is for
                                      # choosing a setting (temperature=, a budget; with compare, a method) without looking at held-out classes, not a result
    budgets: tuple[int, ...] = (0, 1, 5, 10, 50, 100)   # adaptation steps at which every method is read off
    episodes: int = 2                 # support sets per held-out class (each adapts every method once)
    samples: int = 64                 # generated images per episode, method and budget
    real_images: int = 300            # at most this many non-support real images per class and episode
    grid_classes: int = 3             # classes with side-by-side sample grids
    grid_samples: int = 8             # samples per method and budget in a grid
    chunk: int = 10                   # adaptation steps per compiled chunk (speed and compile time only)
    evaluator_steps: int = 600        # training steps of the evaluator network (part of its identity)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    tuning: TuningConfig = field(default_factory=TuningConfig)
    classification: ClassificationConfig = field(default_factory=ClassificationConfig)
    low_data: LowDataConfig = field(default_factory=LowDataConfig)


_IMAGES = Range(1, 100_000)     # images per episode or class: held in memory at once
# The allowed range of every numeric eval.* key (lists: of each item).
EVAL_RANGES: dict[str, Range] = {
    "eval.budgets": _STEPS, "eval.episodes": Range(1, 10_000), "eval.samples": Range(2, 100_000),
    "eval.real_images": Range(2, 100_000), "eval.grid_classes": Range(0, 1000),
    "eval.grid_samples": Range(1, 1000), "eval.chunk": Range(1, 10_000),
    "eval.evaluator_steps": Range(1, 10_000_000),
    "eval.tuning.lrs": Range(0.0, open_low=True), "eval.tuning.classes": Range(1, 10_000),
    "eval.tuning.episodes": Range(1, 10_000), "eval.tuning.samples": Range(2, 100_000),
    "eval.classification.ways": Range(2, 100_000), "eval.classification.episodes": Range(0, 100_000),
    "eval.classification.queries": Range(1, 100_000), "eval.classification.generated_per_class": Range(0, 100_000),
    "eval.classification.budgets": _STEPS,
    "eval.low_data.ks": Range(1, 100_000), "eval.low_data.generated": _IMAGES,
    "eval.low_data.seeds": Range(1, 1000), "eval.low_data.test_images": _IMAGES,
    "eval.low_data.budget": _STEPS, "eval.low_data.choose_budget": _STEPS, "eval.low_data.classifier_steps": Range(1, 10_000_000),
}


# The numeric keys of adapt, sample, eval and compare themselves (their eval.* keys above).
COMMAND_RANGES: dict[str, Range] = {
    "seed": META_TRAIN_RANGES["seed"], "shots": META_TRAIN_RANGES["shots"], "adapt.steps": _STEPS,
    "n": Range(1, 1_000_000), "temperature": META_TRAIN_RANGES["algo.sample_temperature"],
}
DISTRIBUTED_RANGES: dict[str, Range] = {
    "distributed.cpu_devices": Range(1, 4096), "distributed.num_processes": Range(1, 1_000_000),
    "distributed.process_id": Range(0, 999_999),
}


def eval_config(values: dict | None) -> EvalConfig:
    """The ``eval.*`` keys as a validated EvalConfig."""
    cfg = from_dict(EvalConfig, dict(values or {}), prefix="eval.")
    cl = cfg.classification
    check_ranges({f"eval.{key}": value for key, value in numeric_values(cfg).items()}, EVAL_RANGES)
    if not cfg.budgets:
        raise ConfigError("eval.budgets must be a non-empty list of steps >= 0, got []")
    if cl.budgets == ():
        raise ConfigError("eval.classification.budgets must be null or a non-empty list of steps >= 0, got []")
    if cfg.classes not in EVAL_CLASSES:
        raise ConfigError(f"eval.classes must be one of {', '.join(EVAL_CLASSES)}; got '{cfg.classes}'")
    if cfg.baselines.adapt not in BASELINE_ADAPT:
        raise ConfigError(f"eval.baselines.adapt must be one of {', '.join(BASELINE_ADAPT)}; "
                          f"got '{cfg.baselines.adapt}'")
    if cfg.low_data.choose_budget and cfg.low_data.budget is not None:
        raise ConfigError(f"eval.low_data.budget={cfg.low_data.budget} and eval.low_data.choose_budget="
                          f"{list(cfg.low_data.choose_budget)} both set the low-data budget; keep one "
                          f"(eval.low_data.budget=null to choose on validation classes)")
    return cfg


# ---- documentation of every key -----------------------------------------------------

def field_docs(cls) -> dict[str, str]:
    """Each field's documentation: the comment after it in the class body (continued on
    comment-only lines below it).  These comments are what ``--help`` prints."""
    import inspect
    import io
    import tokenize
    docs: dict[str, str] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    current = None
    tokens = tokenize.generate_tokens(io.StringIO(inspect.getsource(cls)).readline)
    line_start = True
    for tok in tokens:
        if tok.type in (tokenize.NL, tokenize.NEWLINE):
            line_start = True
            continue
        if tok.type in (tokenize.INDENT, tokenize.DEDENT):
            continue
        if tok.type == tokenize.NAME and line_start:
            current = tok.string if tok.string in names else None
        elif tok.type == tokenize.COMMENT and current is not None:
            text = tok.string.lstrip("#").strip()
            docs[current] = f"{docs[current]} {text}" if current in docs else text
        elif tok.type == tokenize.STRING and line_start:
            current = None           # a docstring ends the field before it
        line_start = False
    return docs


def documented_keys(cls, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, documentation) of every leaf field of a config dataclass."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out += documented_keys(hints[f.name], f"{prefix}{f.name}.")
        else:
            out.append((prefix + f.name, docs.get(f.name, "")))
    return out
