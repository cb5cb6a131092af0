"""DCGAN-style generator and discriminator without BatchNorm.

BatchNorm would mix statistics across the images of one task and breaks when a task
is adapted alone, so the networks use LayerNorm (default) or GroupNorm.  The
generator upsamples with a convolution followed by depth-to-space (sub-pixel
convolution): the same function class as a stride-2 transposed convolution, but its
weight gradient is far cheaper on CPU.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from metagan_cli.config import ModelConfig


def depth_to_space(x: jax.Array, factor: int = 2) -> jax.Array:
    """[B, H, W, C*f*f] -> [B, H*f, W*f, C]."""
    b, h, w, c = x.shape
    c_out = c // (factor * factor)
    x = x.reshape(b, h, w, factor, factor, c_out)
    x = x.transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h * factor, w * factor, c_out)


def _norm(kind: str):
    if kind == "layer":
        return nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=-1)
    if kind == "group":
        return nn.GroupNorm(num_groups=8)
    return lambda x: x


def _num_stages(image_size: int) -> int:
    return int(math.log2(image_size // 4))


class Generator(nn.Module):
    """z [B, z_dim] -> images [B, S, S, C] in [-1, 1]; 4x4 seed, doubled per stage."""
    cfg: ModelConfig

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        stages = _num_stages(self.cfg.image_size)
        width = self.cfg.width * 2 ** (stages - 1)
        x = nn.Dense(4 * 4 * width)(z).reshape(z.shape[0], 4, 4, width)
        x = nn.relu(_norm(self.cfg.norm)(x))
        for stage in range(stages):
            width = max(int(self.cfg.width * 2.0 ** (stages - 2 - stage)), self.cfg.width // 2, 1)
            x = depth_to_space(nn.Conv(4 * width, (3, 3))(x))
            x = nn.relu(_norm(self.cfg.norm)(x))
        return jnp.tanh(nn.Conv(self.cfg.channels, (3, 3))(x))


class Discriminator(nn.Module):
    """images -> (real/fake logit [B], auxiliary class logits [B, kl_classes] or None).

    The auxiliary head exists only when the KL regulariser is on (``aux_classes > 0``).
    """
    cfg: ModelConfig
    aux_classes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array):
        stages = _num_stages(self.cfg.image_size)
        for stage in range(stages):
            x = nn.Conv(self.cfg.width * 2 ** stage, (4, 4), strides=(2, 2))(x)
            if stage > 0:
                x = _norm(self.cfg.norm)(x)
            x = nn.leaky_relu(x, 0.2)
        features = x.reshape(x.shape[0], -1)
        logit = nn.Dense(1)(features)[:, 0]
        aux = nn.Dense(self.aux_classes, name="aux_head")(features) if self.aux_classes else None
        return logit, aux
