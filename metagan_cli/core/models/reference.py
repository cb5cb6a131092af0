"""``model.arch=reference``: the 28x28 DCGAN of the speed benchmark (docs/BENCHMARKS.md),
without normalisation.  Its transposed convolutions are ``ConvTranspose4x4s2``, the
exact function and parameters of a 4x4 stride-2 transposed convolution (padding 1); on
CPU its convolutions are matmuls (``model.conv=auto``)."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from metagan_cli.config import ModelConfig
from metagan_cli.core.models import MODELS, Model, conv_impl
from metagan_cli.core.models.layers import Conv, ConvTranspose4x4s2, discriminator_head


class ReferenceGenerator(nn.Module):
    """z -> Dense(2w*7*7), ReLU, 7x7x2w -> ConvT(w) 14x14, ReLU -> ConvT(C) 28x28, tanh."""
    cfg: ModelConfig

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        w = self.cfg.width
        x = nn.relu(nn.Dense(2 * w * 7 * 7)(z)).reshape(z.shape[0], 7, 7, 2 * w)
        impl = conv_impl(self.cfg)
        x = nn.relu(ConvTranspose4x4s2(w, impl)(x))
        return jnp.tanh(ConvTranspose4x4s2(self.cfg.channels, impl)(x))


class ReferenceDiscriminator(nn.Module):
    """Conv(w, 4, s2, p1), LeakyReLU .2, Conv(2w, 4, s2, p1), LeakyReLU .2, then the head."""
    cfg: ModelConfig
    aux_classes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array):
        for width in (self.cfg.width, 2 * self.cfg.width):
            x = Conv(width, (4, 4), (2, 2), ((1, 1), (1, 1)), conv_impl(self.cfg))(x)
            x = nn.leaky_relu(x, 0.2)
        return discriminator_head(x, self.aux_classes)


def _check(cfg: ModelConfig) -> str | None:
    if cfg.image_size != 28:
        return (f"model.arch=reference is the 28x28 benchmark model: it needs task.image_size=28, "
                f"got {cfg.image_size}")
    return None


MODELS.register(Model("reference", generator=ReferenceGenerator, discriminator=ReferenceDiscriminator,
                      check=_check, matmul_convs_on_cpu=True))
