"""``model.arch=dcgan``: a DCGAN-style generator and discriminator without BatchNorm.

The generator upsamples with a convolution followed by depth-to-space (sub-pixel
convolution): the same function class as a stride-2 transposed convolution, but its
weight gradient is far cheaper on CPU.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from metagan_cli.config import ModelConfig
from metagan_cli.core.convolutions import depth_to_space
from metagan_cli.core.models import MODELS, Model, conv_impl
from metagan_cli.core.models.layers import Conv, discriminator_head, norm


def num_stages(image_size: int) -> int:
    return int(math.log2(image_size // 4))


class Generator(nn.Module):
    """z [B, z_dim] -> images [B, S, S, C] in [-1, 1]; 4x4 seed, doubled per stage."""
    cfg: ModelConfig

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        stages = num_stages(self.cfg.image_size)
        width = self.cfg.width * 2 ** (stages - 1)
        x = nn.Dense(4 * 4 * width)(z).reshape(z.shape[0], 4, 4, width)
        x = nn.relu(norm(self.cfg.norm)(x))
        return upsample_to_image(x, self.cfg, conv_impl(self.cfg))


def upsample_to_image(x: jax.Array, cfg: ModelConfig, impl: str) -> jax.Array:
    """A 4x4 feature map -> images [B, S, S, C] in [-1, 1]: [3x3 conv + depth-to-space (x2)
    + norm + ReLU] per stage, then a 3x3 conv and tanh.  Called inside a generator's
    ``nn.compact`` method, whose layers these become."""
    stages = num_stages(cfg.image_size)
    for stage in range(stages):
        width = max(int(cfg.width * 2.0 ** (stages - 2 - stage)), cfg.width // 2, 1)
        x = depth_to_space(Conv(4 * width, (3, 3), impl=impl)(x))
        x = nn.relu(norm(cfg.norm)(x))
    return jnp.tanh(Conv(cfg.channels, (3, 3), impl=impl)(x))


class Discriminator(nn.Module):
    """[4x4 stride-2 conv + norm (not on the first) + LeakyReLU(0.2)] per stage, then the head."""
    cfg: ModelConfig
    aux_classes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array):
        impl = conv_impl(self.cfg)
        for stage in range(num_stages(self.cfg.image_size)):
            x = Conv(self.cfg.width * 2 ** stage, (4, 4), (2, 2), impl=impl)(x)
            if stage > 0:
                x = norm(self.cfg.norm)(x)
            x = nn.leaky_relu(x, 0.2)
        return discriminator_head(x, self.aux_classes)


def check(cfg: ModelConfig) -> str | None:
    size = cfg.image_size
    if size < 8 or size & (size - 1):
        return f"model.image_size must be a power of two >= 8, got {size} (28x28 images: model=reference)"
    if cfg.norm == "group" and cfg.width % 16:
        return "model.norm=group needs model.width divisible by 16 (8 groups)"
    return None


MODELS.register(Model("dcgan", generator=Generator, discriminator=Discriminator, check=check,
                      matmul_convs_on_cpu=True, partial_g=("norm",)))
