"""Layers the architectures share: convolutions with a choice of kernel, the
normalisations allowed in adapted networks, and the discriminator's head."""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from metagan_cli.core.convolutions import (conv2d, conv_transpose_4x4s2_matmul,
                                           conv_transpose_4x4s2_phases, depth_to_space)


class Conv(nn.Module):
    """``flax.linen.Conv`` with the same parameters (names, shapes, initialisers) and the
    choice of implementation of ``conv2d``."""
    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: Any = "SAME"
    impl: str = "xla"
    kernel_init: Any = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        # float32 parameters whatever the input's dtype or jax_enable_x64, as flax's own
        # layers (param_dtype): the same initial values as flax.linen.Conv everywhere
        kernel = self.param("kernel", self.kernel_init,
                            (*self.kernel_size, x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return conv2d(x, kernel, self.strides, self.padding, self.impl) + bias


class ConvTranspose4x4s2(nn.Module):
    """``ConvTranspose2d(kernel 4, stride 2, padding 1)`` (PyTorch's): [B, H, W, Cin] ->
    [B, 2H, 2W, features], with a [4, 4, Cin, features] kernel and a bias (the same
    function and parameters), computed without a transposed convolution."""
    features: int
    impl: str = "xla"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (4, 4, x.shape[-1], self.features),
                            jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        if self.impl != "xla":
            return conv_transpose_4x4s2_matmul(x, kernel) + bias
        return depth_to_space(conv_transpose_4x4s2_phases(x, kernel) + jnp.tile(bias, 4))


def norm(kind: str):
    """model.norm: LayerNorm over each image's features, GroupNorm, or none."""
    if kind == "layer":
        return nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=-1)
    if kind == "group":
        return nn.GroupNorm(num_groups=8)
    return lambda x: x


NORMS = ("layer", "group", "none")


def discriminator_head(x: jax.Array, aux_classes: int):
    """Features [B, ...] -> (real/fake logit [B], auxiliary class logits [B, aux_classes]
    or None).  The auxiliary head exists only for the KL regulariser (``aux_classes > 0``)."""
    features = x.reshape(x.shape[0], -1)
    logit = nn.Dense(1)(features)[:, 0]
    aux = nn.Dense(aux_classes, name="aux_head")(features) if aux_classes else None
    return logit, aux
