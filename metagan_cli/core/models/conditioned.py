"""``model.arch=conditioned``: the dcgan generator conditioned on the task's support set.

An encoder (the discriminator's trunk: 4x4 stride-2 convolutions down to 4x4) maps each
of the K shots to a feature map; their mean, which depends neither on the shots' order
nor on K, joins the generator's 4x4 seed computed from z.  Meta-trained by any
algorithm, the pair then follows the shots it is given before any adaptation (FAML's
encoder, FIGR's and DAWSON's generator otherwise), and fine-tuning refines it.  The
discriminator is dcgan's.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from metagan_cli.config import ModelConfig
from metagan_cli.core.models import MODELS, Model, conv_impl
from metagan_cli.core.models.dcgan import Discriminator, check as dcgan_check, num_stages, upsample_to_image
from metagan_cli.core.models.layers import Conv, norm


class ConditionedGenerator(nn.Module):
    """(z [B, z_dim], shots [K, S, S, C]) -> images [B, S, S, C] in [-1, 1]."""
    cfg: ModelConfig

    @nn.compact
    def __call__(self, z: jax.Array, shots: jax.Array) -> jax.Array:
        cfg, impl = self.cfg, conv_impl(self.cfg)
        stages = num_stages(cfg.image_size)
        x = shots.astype(jnp.float32)
        for stage in range(stages):
            x = Conv(cfg.width * 2 ** stage, (4, 4), (2, 2), impl=impl, name=f"encoder_{stage}")(x)
            if stage > 0:
                x = norm(cfg.norm)(x)
            x = nn.leaky_relu(x, 0.2)
        code = jnp.broadcast_to(jnp.mean(x, axis=0), (z.shape[0], *x.shape[1:]))   # [B, 4, 4, ...]
        width = cfg.width * 2 ** (stages - 1)
        seed = nn.Dense(4 * 4 * width)(z).reshape(z.shape[0], 4, 4, width)
        x = nn.relu(norm(cfg.norm)(jnp.concatenate([seed, code], axis=-1)))
        return upsample_to_image(x, cfg, impl)


MODELS.register(Model("conditioned", generator=ConditionedGenerator, discriminator=Discriminator,
                      check=dcgan_check, matmul_convs_on_cpu=True, conditioned=True,
                      partial_g=("norm",)))
