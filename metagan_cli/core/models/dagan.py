"""``model.arch=dagan``: DAGAN's pair (Antoniou et al., 2018), an image-to-image
generator and a discriminator of image pairs.

The generator G(x, z) is a U-Net: an encoder of one real image x (4x4 stride-2
convolutions down to 4x4), noise z joined at the 4x4 code, and a decoder that doubles
the size per stage (3x3 conv + depth-to-space) and takes the encoder's map of the same
size through a skip connection, x itself at full size.  The skips let it keep what
identifies x's class; the noise varies the rest.  Given a task's K shots, sample b
comes from shot b mod K (``pair_sources``).

The discriminator judges pairs: (x, x'), two images of one class, against
(x, G(x, z)); it is dcgan's on the two images stacked as channels.  Copying x is then
no way out for G, since a real pair is (almost always) two different images.

Trained across the meta-train classes by ``algo=dagan``; as a conditioned model, any
meta-learner can train it too.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from metagan_cli.config import ModelConfig
from metagan_cli.core.convolutions import depth_to_space
from metagan_cli.core.models import MODELS, Model, conv_impl, pair_sources
from metagan_cli.core.models.dcgan import Discriminator, check, num_stages
from metagan_cli.core.models.layers import Conv, norm


class DaganGenerator(nn.Module):
    """(z [B, z_dim], shots [K, S, S, C]) -> images [B, S, S, C] in [-1, 1]."""
    cfg: ModelConfig

    @nn.compact
    def __call__(self, z: jax.Array, shots: jax.Array) -> jax.Array:
        cfg, impl = self.cfg, conv_impl(self.cfg)
        stages = num_stages(cfg.image_size)
        x = pair_sources(shots, z.shape[0]).astype(jnp.float32)
        skips = [x]
        for stage in range(stages):
            x = Conv(cfg.width * 2 ** stage, (4, 4), (2, 2), impl=impl, name=f"encoder_{stage}")(x)
            if stage > 0:
                x = norm(cfg.norm)(x)
            x = nn.leaky_relu(x, 0.2)
            skips.append(x)
        skips.pop()                                   # the 4x4 code is x itself
        width = cfg.width * 2 ** (stages - 1)
        noise = nn.Dense(4 * 4 * width)(z).reshape(z.shape[0], 4, 4, width)
        x = nn.relu(norm(cfg.norm)(jnp.concatenate([x, noise], axis=-1)))
        for stage in range(stages):
            features = max(int(cfg.width * 2.0 ** (stages - 2 - stage)), cfg.width // 2, 1)
            x = depth_to_space(Conv(4 * features, (3, 3), impl=impl)(x))
            x = nn.relu(norm(cfg.norm)(x))
            x = jnp.concatenate([x, skips.pop()], axis=-1)
        return jnp.tanh(Conv(cfg.channels, (3, 3), impl=impl)(x))


MODELS.register(Model("dagan", generator=DaganGenerator, discriminator=Discriminator, check=check,
                      matmul_convs_on_cpu=True, conditioned=True, pair_discriminator=True,
                      partial_g=("norm",)))
