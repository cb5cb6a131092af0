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
    ``validation_fraction``.  A run saves the resolved lists."""
    name: str = "fewshot_digits"
    source: str = "sklearn_digits"   # sklearn_digits | tfds | folder
    image_size: int = 16             # images are resized to this; the model follows
    train_classes: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    test_classes: tuple[int, ...] = (7, 8, 9)
    validation_classes: tuple[int, ...] = (6,)
    split: Union[str, None] = None   # a shipped split name or a path to a .json split file
    tfds_name: Union[str, None] = None
    tfds_train_split: str = "train"
    tfds_test_split: Union[str, None] = None   # its classes are the held-out ones
    invert: Union[bool, str] = False           # true | false | auto (light background -> invert)
    holdout_group: Union[str, None] = None     # folder: hold out a top-level folder (an alphabet)
    holdout_fraction: Union[float, None] = None
    validation_group: Union[str, None] = None      # folder: validation classes under one folder
    validation_fraction: Union[float, None] = None  # a fixed share of the non-held-out classes


@dataclass(frozen=True)
class ModelConfig:
    image_size: int = 16      # square images; a power of two >= 8 (reference: 28); equals task.image_size
    channels: int = 1
    z_dim: int = 64
    width: int = 32           # channels of the widest-resolution feature map
    norm: str = "layer"       # layer | group | none (no BatchNorm: tasks are adapted alone)
    arch: str = "dcgan"       # dcgan | reference (the speed benchmark's 28x28 DCGAN)
    conv: str = "auto"        # xla | matmul | auto: how convolutions are computed (speed only)


@dataclass(frozen=True)
class GanLossConfig:
    kind: str = "nonsaturating"   # nonsaturating | wgan_gp | hinge
    gp_weight: float = 10.0       # WGAN-GP only
    kl_weight: float = 0.0        # optional E_x KL(p(y|x) || p(y)) regulariser; 0 = off
    kl_classes: int = 10          # size of the discriminator's auxiliary class head


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adam"        # adam | sgd
    lr: float = 2e-3
    b1: float = 0.5
    b2: float = 0.999
    momentum: float = 0.0     # sgd only


ALGORITHMS = ("reptile", "fomaml", "maml", "scratch", "pretrain")
FIRST_ORDER = ("reptile", "fomaml")


@dataclass(frozen=True)
class AlgoConfig:
    name: str = "reptile"     # reptile | fomaml | maml | scratch | pretrain
    meta_batch: int = 4       # tasks per meta-iteration
    inner_steps: int = 10     # inner GAN steps per task
    n_critic: int = 1         # discriminator updates per inner step
    queries: int = 4          # (fo)maml: query images per task for the outer loss
    outer_objective: str = "gan"   # (fo)maml: gan | dawson
    learn_inner_lr: bool = False   # maml: meta-learn a per-parameter inner learning rate (Meta-SGD)
    reuse_fake: bool = False       # the G update reuses the last D update's generated batch


@dataclass(frozen=True)
class LoopConfig:
    """How the inner loop and the task batch are laid out for XLA (speed only)."""
    scan_unroll: Union[int, str] = "auto"     # int >= 1, "full", or "auto" (per backend)
    task_batching: str = "auto"              # vmap | map | unrolled | auto (per backend)
    remat: Union[bool, str] = False          # false | true (= step) | step | nested | auto: jax.checkpoint


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000             # meta-iterations
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 3


@dataclass(frozen=True)
class DataConfig:
    data_dir: Union[str, None] = None    # TFDS data dir; None = $TFDS_DATA_DIR or ~/tensorflow_datasets
    path: Union[str, None] = None        # task=folder: the root of the class folders
    cache_dir: Union[str, None] = None   # built class arrays; None = $METAGAN_DATA_CACHE or ~/.cache


@dataclass(frozen=True)
class DistributedConfig:
    """How a run spreads over devices and hosts.  Not part of a run's identity: a run
    may resume on another number of devices or hosts."""
    initialize: Union[bool, str] = "auto"   # auto | true | false: start jax.distributed
    coordinator: Union[str, None] = None    # HOST:PORT of process 0; null = detect (Slurm)
    num_processes: Union[int, None] = None
    process_id: Union[int, None] = None
    shard_tasks: bool = True                # shard the meta-batch over all devices
    cpu_devices: Union[int, str] = "auto"    # CPU backend: XLA devices on this host's cores


@dataclass(frozen=True)
class MetaLearnConfig:
    """Everything the core needs to meta-train and adapt; saved with every run."""
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    gan_loss: GanLossConfig = field(default_factory=GanLossConfig)
    inner_optim: OptimConfig = field(default_factory=OptimConfig)
    outer_optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-4))
    loop: LoopConfig = field(default_factory=LoopConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    seed: int = 0
    shots: int = 4


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


def validate(cfg: MetaLearnConfig) -> MetaLearnConfig:
    """Checks relations between values that types alone do not catch."""
    size = cfg.model.image_size
    if size != cfg.task.image_size:
        raise ConfigError(f"model.image_size ({size}) differs from task.image_size "
                          f"({cfg.task.image_size}); set task.image_size instead")
    if cfg.model.arch not in ("dcgan", "reference"):
        raise ConfigError(f"model.arch must be one of dcgan, reference; got '{cfg.model.arch}'")
    if cfg.model.arch == "reference" and size != 28:
        raise ConfigError(f"model.arch=reference is the 28x28 benchmark model: it needs "
                          f"task.image_size=28, got {size}")
    if cfg.model.arch == "dcgan" and (size < 8 or size & (size - 1)):
        raise ConfigError(f"model.image_size must be a power of two >= 8, got {size} "
                          f"(28x28 images: model=reference)")
    choices = {
        "model.norm": (cfg.model.norm, ("layer", "group", "none")),
        "model.conv": (cfg.model.conv, ("auto", "xla", "matmul")),
        "gan_loss.kind": (cfg.gan_loss.kind, ("nonsaturating", "wgan_gp", "hinge")),
        "inner_optim.name": (cfg.inner_optim.name, ("adam", "sgd")),
        "outer_optim.name": (cfg.outer_optim.name, ("adam", "sgd")),
        "algo.name": (cfg.algo.name, ALGORITHMS),
        "algo.outer_objective": (cfg.algo.outer_objective, ("gan", "dawson")),
        "loop.task_batching": (cfg.loop.task_batching, ("auto", "vmap", "map", "unrolled")),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got '{value}'")
    if cfg.loop.remat not in (False, True, "none", "step", "nested", "auto"):
        raise ConfigError(f"loop.remat must be false, step (or true), nested or auto; "
                          f"got '{cfg.loop.remat}'")
    unroll = cfg.loop.scan_unroll
    if isinstance(unroll, str) and unroll not in ("auto", "full"):
        raise ConfigError(f"loop.scan_unroll must be a positive integer, 'full' or 'auto'; got '{unroll}'")
    if isinstance(unroll, int) and unroll < 1:
        raise ConfigError(f"loop.scan_unroll must be >= 1, got {unroll}")
    positive = {"shots": cfg.shots, "algo.meta_batch": cfg.algo.meta_batch,
                "algo.n_critic": cfg.algo.n_critic, "algo.queries": cfg.algo.queries,
                "train.steps": cfg.train.steps, "train.log_every": cfg.train.log_every,
                "train.sample_every": cfg.train.sample_every,
                "train.checkpoint_every": cfg.train.checkpoint_every,
                "train.keep_checkpoints": cfg.train.keep_checkpoints,
                "model.z_dim": cfg.model.z_dim, "model.width": cfg.model.width,
                "model.channels": cfg.model.channels}
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value}")
    if cfg.algo.inner_steps < 0:
        raise ConfigError(f"algo.inner_steps must be >= 0, got {cfg.algo.inner_steps}")
    if cfg.algo.learn_inner_lr and cfg.algo.name != "maml":
        raise ConfigError("algo.learn_inner_lr=true needs algo=maml (the learning rates get "
                          "their gradient by differentiating through the inner loop)")
    if cfg.model.norm == "group" and cfg.model.width % 16:
        raise ConfigError("model.norm=group needs model.width divisible by 16 (8 groups)")
    if cfg.inner_optim.lr <= 0 or cfg.outer_optim.lr <= 0:
        raise ConfigError("inner_optim.lr and outer_optim.lr must be > 0")
    if cfg.task.invert not in (True, False, "auto"):
        raise ConfigError(f"task.invert must be true, false or auto; got '{cfg.task.invert}'")
    fraction = cfg.task.holdout_fraction
    if fraction is not None and not 0.0 < fraction < 1.0:
        raise ConfigError(f"task.holdout_fraction must be between 0 and 1, got {fraction}")
    fraction = cfg.task.validation_fraction
    if fraction is not None and not 0.0 <= fraction < 1.0:
        raise ConfigError(f"task.validation_fraction must be >= 0 and < 1, got {fraction}")
    lists = {"train_classes": set(cfg.task.train_classes), "test_classes": set(cfg.task.test_classes),
             "validation_classes": set(cfg.task.validation_classes)}
    for a, b in (("train_classes", "test_classes"), ("train_classes", "validation_classes"),
                 ("validation_classes", "test_classes")):
        xs, ys = lists[a], lists[b]
        if xs & ys:
            raise ConfigError(f"task classes {sorted(xs & ys)} are in both {a} and {b}")
    return cfg


# ---- metagan eval -------------------------------------------------------------------

@dataclass(frozen=True)
class BaselinesConfig:
    copy: bool = True                 # copy the shots
    scratch: bool = True              # a fresh GAN trained on the shots
    pretrain: str = "train"           # train | off | RUN_DIR of an algo=pretrain run


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
    budgets: Union[tuple[int, ...], None] = None   # adaptation steps; null = the run's algo.inner_steps


@dataclass(frozen=True)
class LowDataConfig:
    """The low-data protocol (DAGAN; F2GAN's table): the first k real images of each
    held-out class train a classifier from scratch, with or without M added images."""
    ks: tuple[int, ...] = (5, 10, 15)  # real images per class (used where a class has k + 5)
    generated: int = 50               # M images added per class
    seeds: int = 3                    # classifier seeds
    test_images: int = 200            # at most this many test images per class
    budget: Union[int, None] = None   # adaptation steps; null = the run's algo.inner_steps
    classifier_steps: int = 400       # the classifier's training steps (part of the fixed recipe)


@dataclass(frozen=True)
class EvalConfig:
    budgets: tuple[int, ...] = (0, 1, 5, 10, 50, 100)
    episodes: int = 2                 # support sets per held-out class
    samples: int = 64                 # generated images per episode, method and budget
    real_images: int = 300            # at most this many non-support real images per class and episode
    grid_classes: int = 3             # classes with side-by-side sample grids
    grid_samples: int = 8             # samples per method and budget in a grid
    chunk: int = 10                   # adaptation steps per compiled chunk
    evaluator_steps: int = 600        # training steps of the evaluator network (part of its identity)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    tuning: TuningConfig = field(default_factory=TuningConfig)
    classification: ClassificationConfig = field(default_factory=ClassificationConfig)
    low_data: LowDataConfig = field(default_factory=LowDataConfig)


def eval_config(values: dict | None) -> EvalConfig:
    """The ``eval.*`` keys as a validated EvalConfig."""
    cfg = from_dict(EvalConfig, dict(values or {}), prefix="eval.")
    cl, ld, tu = cfg.classification, cfg.low_data, cfg.tuning
    at_least = {
        "eval.episodes": (cfg.episodes, 1), "eval.samples": (cfg.samples, 2),
        "eval.real_images": (cfg.real_images, 2), "eval.chunk": (cfg.chunk, 1),
        "eval.grid_samples": (cfg.grid_samples, 1), "eval.evaluator_steps": (cfg.evaluator_steps, 1),
        "eval.grid_classes": (cfg.grid_classes, 0),
        "eval.classification.episodes": (cl.episodes, 0), "eval.classification.queries": (cl.queries, 1),
        "eval.classification.generated_per_class": (cl.generated_per_class, 0),
        "eval.low_data.generated": (ld.generated, 1), "eval.low_data.seeds": (ld.seeds, 1),
        "eval.low_data.test_images": (ld.test_images, 1),
        "eval.low_data.classifier_steps": (ld.classifier_steps, 1),
        "eval.tuning.classes": (tu.classes, 1), "eval.tuning.episodes": (tu.episodes, 1),
        "eval.tuning.samples": (tu.samples, 2)}
    for key, (value, low) in at_least.items():
        if value < low:
            raise ConfigError(f"{key} must be >= {low}, got {value}")
    if not cfg.budgets or min(cfg.budgets) < 0:
        raise ConfigError(f"eval.budgets must be a non-empty list of steps >= 0, got {list(cfg.budgets)}")
    if any(w < 2 for w in cl.ways):
        raise ConfigError(f"eval.classification.ways must be >= 2, got {list(cl.ways)}")
    if cl.budgets is not None and (not cl.budgets or min(cl.budgets) < 0):
        raise ConfigError(f"eval.classification.budgets must be null or a list of steps >= 0, "
                          f"got {list(cl.budgets)}")
    if any(k < 1 for k in ld.ks):
        raise ConfigError(f"eval.low_data.ks must be >= 1, got {list(ld.ks)}")
    if ld.budget is not None and ld.budget < 0:
        raise ConfigError(f"eval.low_data.budget must be null or >= 0, got {ld.budget}")
    if any(lr <= 0 for lr in tu.lrs):
        raise ConfigError(f"eval.tuning.lrs must be > 0, got {list(tu.lrs)}")
    return cfg
