"""Generator and discriminator architectures by name (``model.arch``).

Each module of this package registers one ``Model``: its networks (Flax Linen modules,
applied as pure functions by ``core.gan``) and the image sizes it accepts.  No
BatchNorm anywhere: it would mix the statistics of a task's images and breaks when a
task is adapted alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import flax.linen as nn
import jax

from metagan_cli.config import ConfigError, ModelConfig
from metagan_cli.core.registry import Registry, import_submodules


@dataclass(frozen=True)
class Model:
    """``generator(cfg)``: z [B, z_dim] -> images [B, S, S, C] in [-1, 1];
    ``discriminator(cfg, aux_classes)``: images -> (logit [B], aux logits or None);
    ``check(cfg)``: None, or what is wrong with the config for this model;
    ``matmul_convs_on_cpu``: ``model.conv=auto`` computes its convolutions as matmuls
    on CPU (see ``core.convolutions``); ``conditioned``: the generator takes
    (z, support images [K, S, S, C]) and follows the shots it is given;
    ``pair_discriminator``: the discriminator judges (real image, image) pairs stacked
    as 2C channels (DAGAN's), the b-th image paired with ``pair_sources``' b-th shot;
    ``partial_g``: the ``algo.adapt_g`` settings other than ``all`` its generator allows
    (``norm``: it has normalisation layers; ``spread``: it has the warp's spreads)."""
    name: str
    generator: Callable[[ModelConfig], nn.Module]
    discriminator: Callable[[ModelConfig, int], nn.Module]
    check: Callable[[ModelConfig], str | None] = lambda cfg: None
    matmul_convs_on_cpu: bool = False
    conditioned: bool = False
    pair_discriminator: bool = False
    partial_g: tuple[str, ...] = ()


MODELS: Registry[Model] = Registry("model.arch")
CONV_IMPLS = ("xla", "matmul")


def generator(cfg: ModelConfig) -> nn.Module:
    return MODELS.get(cfg.arch).generator(cfg)


def discriminator(cfg: ModelConfig, aux_classes: int = 0) -> nn.Module:
    return MODELS.get(cfg.arch).discriminator(cfg, aux_classes)


def is_conditioned(cfg: ModelConfig) -> bool:
    return MODELS.get(cfg.arch).conditioned


def judges_pairs(cfg: ModelConfig) -> bool:
    return MODELS.get(cfg.arch).pair_discriminator


def pair_sources(shots: jax.Array, n: int) -> jax.Array:
    """The shot that a conditioned generator's b-th of ``n`` samples comes from, and that a
    pair discriminator pairs the b-th judged image with: shot b mod K."""
    return shots[jax.numpy.arange(n) % shots.shape[0]]


def allowing_partial_g(kind: str) -> list[str]:
    """The models whose generator allows ``algo.adapt_g=kind``."""
    return [name for name in MODELS.names() if kind in MODELS.get(name).partial_g]


def check_model(cfg: ModelConfig) -> None:
    problem = MODELS.get(cfg.arch).check(cfg)
    if problem:
        raise ConfigError(problem)


def conv_impl(cfg: ModelConfig, backend: str | None = None) -> str:
    """model.conv: ``matmul`` or ``xla``; ``auto`` follows the model's record on CPU
    and is ``xla`` on accelerators."""
    if cfg.conv != "auto":
        return cfg.conv
    backend = backend or jax.default_backend()
    return "matmul" if MODELS.get(cfg.arch).matmul_convs_on_cpu and backend == "cpu" else "xla"


import_submodules(__name__, __path__)
