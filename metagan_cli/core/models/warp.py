"""``model.arch=warp``: a generator that deforms its shot instead of drawing a new image.

G(x, z) reads one real image x (the shot b mod K for sample b, as DAGAN's) and returns x
resampled along a smooth displacement field: an encoder of x (the discriminator's trunk,
down to 4x4) with z joined at the 4x4 code predicts an affine map (rotation, scale,
shear, shift) and a residual flow on a coarse 8x8 grid, upsampled bilinearly to the
image size; both are bounded (``MAX_AFFINE``, ``MAX_FLOW``).  z enters both directly too, with a learned
spread per parameter, so that the noise always draws a deformation.  Its samples are therefore
always strokes of the shot: what the GAN learns is how a character of this kind varies
(how much a loop opens, a stroke bends, the glyph leans), the variation that, drawn by
hand as traditional augmentation, is what adds accuracy to a few-shot classifier.  The
layers that read the shot's code start at zero: an untrained G draws random small
deformations of its shot, as traditional augmentation does.

The discriminator judges pairs (DAGAN's): (x, x') of one class against (x, G(x, z)), so
returning x unchanged is no way out for G.  Any meta-learner trains it, as does
``algo=dagan`` (without meta-learning).

``model.arch=warp_set`` reads the whole support set as well: the mean of the K shots'
codes (FAML's encoder; the matching and fusion of shot features of MatchingGAN, F2GAN
and LoFGAN in its simplest form) joins the deforming shot's code, so that how x is
deformed can depend on how this character's other drawings differ from x.  The mean
depends neither on the shots' order nor on K; the same encoder reads x and the set.

``model.arch=warp_fusion`` draws between two drawings of the character (the interpolation
of F2GAN and the local fusion of LoFGAN, done on strokes instead of features): sample b
deforms its shot x and a partner shot x' of the same set (``fusion_partners``), x' first
moved and scaled so that its ink has x's centroid and spread (``moment_aligned``), each
deformation predicted from both codes (x's then x''s, and the reverse for x'), with the
same z, and blends their ink, x' weighing w in [0, ``MAX_MIX``]: w's mean is learned and z
spreads it.  Before training both take the same random deformation and the blend is a
ghost of the two drawings where their strokes differ; training can align them (a drawing
between the two) or turn w down (the warp).  The pair discriminator pairs the sample with
x, which always weighs more.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from metagan_cli.config import ModelConfig
from metagan_cli.core.models import MODELS, Model, conv_impl, pair_sources
from metagan_cli.core.models.dcgan import Discriminator, check as dcgan_check, num_stages
from metagan_cli.core.models.layers import Conv, norm

MAX_AFFINE = 0.25   # largest change of each entry of the 2x2 linear part (0.25: about 14 degrees)
MAX_SHIFT = 0.15    # largest translation, as a fraction of the image size
MAX_FLOW = 0.08     # largest residual displacement of a pixel, as a fraction of the image size
FLOW_GRID = 8       # the residual flow's resolution before it is upsampled (smooth by construction)
INITIAL_SPREAD = 0.3   # how strongly z moves each deformation before training (tanh's argument)
MAX_MIX = 0.5          # warp_fusion: the partner shot's largest weight (the paired shot always leads)


class WarpGenerator(nn.Module):
    """(z [B, z_dim], shots [K, S, S, C]) -> images [B, S, S, C] in [-1, 1] (background -1)."""
    cfg: ModelConfig
    reads_support: bool = False    # warp_set: the mean code of all K shots joins the shot's
    fuses: bool = False            # warp_fusion: a partner shot, deformed too, blends in

    @nn.compact
    def __call__(self, z: jax.Array, shots: jax.Array) -> jax.Array:
        cfg, impl = self.cfg, conv_impl(self.cfg)
        size, stages = cfg.image_size, num_stages(cfg.image_size)
        n = z.shape[0]
        source = pair_sources(shots, n).astype(jnp.float32)
        if self.fuses:     # the partners deform in the same batch: rows n.. of every array
            partner = moment_aligned(fusion_partners(shots, n).astype(jnp.float32), source)
            source = jnp.concatenate([source, partner])
        m = source.shape[0]
        # one encoder pass over the sources and (warp_set) the shots: per-image norms only
        x = jnp.concatenate([source, shots.astype(jnp.float32)]) if self.reads_support else source
        for stage in range(stages):
            x = Conv(cfg.width * 2 ** stage, (4, 4), (2, 2), impl=impl, name=f"encoder_{stage}")(x)
            if stage > 0:
                x = norm(cfg.norm)(x)
            x = nn.leaky_relu(x, 0.2)
        width = cfg.width * 2 ** (stages - 1)
        if self.reads_support:
            support = jnp.broadcast_to(jnp.mean(x[m:], axis=0), (m, *x.shape[1:]))
            x = jnp.concatenate([x[:m], support], axis=-1)
        if self.fuses:     # each of the two reads its own code, then the other's
            x = jnp.concatenate([x, jnp.concatenate([x[n:], x[:n]])], axis=-1)
            z = jnp.concatenate([z, z])
        noise = nn.Dense(4 * 4 * width)(z).reshape(m, 4, 4, width)
        code = nn.relu(norm(cfg.norm)(jnp.concatenate([x, noise], axis=-1)))

        features = code.reshape(code.shape[0], -1)
        hidden = nn.relu(nn.Dense(2 * width)(jnp.concatenate([features, z], axis=-1)))
        # z also enters each deformation directly, scaled by a learned spread per
        # parameter: an untrained G draws random affine maps and flows (traditional
        # augmentation), training learns which ones the class allows; the mean starts at 0
        affine = (nn.Dense(6, kernel_init=nn.initializers.zeros, name="affine")(hidden)
                  + self.param("affine_spread", nn.initializers.constant(INITIAL_SPREAD), (6,)) * z[:, :6])
        linear = jnp.eye(2) + MAX_AFFINE * jnp.tanh(affine[:, :4]).reshape(-1, 2, 2)
        shift = MAX_SHIFT * jnp.tanh(affine[:, 4:])

        flow = jax.image.resize(code, (code.shape[0], FLOW_GRID, FLOW_GRID, code.shape[-1]), "linear")
        flow = nn.relu(Conv(width, (3, 3), impl=impl, name="flow_hidden")(flow))
        flow = Conv(2, (3, 3), impl=impl, name="flow", kernel_init=nn.initializers.zeros)(flow)
        flow_noise = nn.Dense(FLOW_GRID * FLOW_GRID * 2, name="flow_noise",
                              kernel_init=nn.initializers.normal(INITIAL_SPREAD / z.shape[-1] ** 0.5))(z)
        flow = flow + flow_noise.reshape(flow.shape)
        flow = MAX_FLOW * jnp.tanh(jax.image.resize(flow, (flow.shape[0], size, size, 2), "linear"))
        warped = resample(source, sampling_grid(linear, shift, flow))
        if not self.fuses:
            return warped
        mix = (nn.Dense(1, kernel_init=nn.initializers.zeros, name="mix")(hidden[:n])
               + self.param("mix_spread", nn.initializers.ones, (1,)) * z[:n, 6:7])
        weight = MAX_MIX * nn.sigmoid(mix)[:, :, None, None]
        return (1.0 - weight) * warped[:n] + weight * warped[n:]     # a blend of ink: background stays -1


def fusion_partners(shots: jax.Array, n: int) -> jax.Array:
    """The shot that warp_fusion's b-th of ``n`` samples blends with its own (``pair_sources``'
    b-th, shot b mod K): another shot of the set, the next one for the first K samples, the
    one after for the next K, so that each shot meets every other in turn (K = 1: itself)."""
    k = shots.shape[0]
    b = jnp.arange(n)
    return shots[(b % k + 1 + (b // k) % max(k - 1, 1)) % k]


def moment_aligned(images: jax.Array, targets: jax.Array) -> jax.Array:
    """``images`` [B, S, S, C] moved and scaled about their ink's centroid so that it lands on
    ``targets``' centroid with their spread (root mean square distance of the ink from its
    centroid): a drawing's position and size taken from another's, its shape kept."""
    size = images.shape[1]
    pixels = jnp.arange(size, dtype=jnp.float32)
    grid = jnp.stack(jnp.meshgrid(pixels, pixels, indexing="ij"), axis=-1)            # [S, S, 2]

    def moments(x):
        ink = jnp.mean(x + 1.0, axis=-1) / 2.0                                       # [B, S, S]
        mass = jnp.sum(ink, axis=(1, 2)) + 1e-6
        centre = jnp.einsum("bhw,hwi->bi", ink, grid) / mass[:, None]
        squared = jnp.sum((grid - centre[:, None, None]) ** 2, axis=-1)
        return centre, jnp.sqrt(jnp.sum(ink * squared, axis=(1, 2)) / mass + 1e-6)

    centre, spread = moments(images)
    target_centre, target_spread = moments(targets)
    # bounded: a blank image (or target) has no spread to match
    scale = jnp.clip(spread / target_spread, 0.5, 2.0)[:, None, None, None]
    where = centre[:, None, None] + (grid - target_centre[:, None, None]) * scale
    return resample(images, where)


def sampling_grid(linear: jax.Array, shift: jax.Array, flow: jax.Array) -> jax.Array:
    """Where each output pixel reads its source, in pixels [B, S, S, 2] (row, column):
    the affine map about the image centre plus the flow (both in units of the size)."""
    size = flow.shape[1]
    axis = (jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2) / size
    grid = jnp.stack(jnp.meshgrid(axis, axis, indexing="ij"), axis=-1)          # [S, S, 2]
    where = jnp.einsum("bij,hwj->bhwi", linear, grid) + shift[:, None, None] + flow
    return where * size + (size - 1) / 2


def resample(images: jax.Array, where: jax.Array) -> jax.Array:
    """Bilinear sampling of ``images`` [B, S, S, C] at ``where`` [B, S, S, 2] (pixels);
    outside the image reads background (-1).  Written as products of tent weights
    instead of a gather: matmuls on every backend, and smooth in ``where``."""
    size = images.shape[1]
    pixels = jnp.arange(size, dtype=jnp.float32)
    rows = nn.relu(1.0 - jnp.abs(where[..., 0:1] - pixels))                     # [B, S, S, S]
    cols = nn.relu(1.0 - jnp.abs(where[..., 1:2] - pixels))
    ink = images + 1.0                                                           # background 0
    return jnp.einsum("bhwy,byxc,bhwx->bhwc", rows, ink, cols) - 1.0


def z_dim_check(needed: int, drawn: str):
    """The model's check: z has at least ``needed`` entries, those that draw ``drawn``."""
    def check(cfg: ModelConfig) -> str | None:
        if cfg.z_dim < needed:
            return (f"model={cfg.arch} needs model.z_dim >= {needed} (that many of its entries "
                    f"draw {drawn}), got {cfg.z_dim}")
        return dcgan_check(cfg)
    return check


_WARP = dict(discriminator=Discriminator, matmul_convs_on_cpu=True, conditioned=True,
             pair_discriminator=True, partial_g=("norm", "spread"))
_DEFORMS = z_dim_check(6, "the deformation")    # six entries draw the affine map
MODELS.register(Model("warp", generator=WarpGenerator, check=_DEFORMS, **_WARP))
MODELS.register(Model("warp_set", generator=lambda cfg: WarpGenerator(cfg, reads_support=True),
                      check=_DEFORMS, **_WARP))
MODELS.register(Model("warp_fusion", generator=lambda cfg: WarpGenerator(cfg, fuses=True),
                      check=z_dim_check(7, "the deformation and the blend"), **_WARP))
