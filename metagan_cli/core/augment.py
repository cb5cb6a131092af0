"""Differentiable augmentation of what the discriminator sees (DiffAugment, Zhao et al.,
2020): real and generated batches alike go through the same random family of
transformations before D scores them, and the generator's gradient flows back through
the transformation.  With K = 4 shots a discriminator otherwise memorises its real
images within a few steps, and the generator collapses onto them.

Images are in [-1, 1] with the background at -1 (strokes are light on dark), so what a
transformation uncovers is filled with -1.  Each sample of a batch draws its own
transformation; a transformation is a function of the pixels that is linear in them
(shifts, masks, bilinear resampling), so its gradient is exact.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.ndimage import map_coordinates

from metagan_cli.config import AugmentConfig

BACKGROUND = -1.0
TRANSFORMS = ("translation", "cutout", "affine")


def augment(x: jax.Array, key: jax.Array, cfg: AugmentConfig) -> jax.Array:
    """``x`` [B, H, W, C] through the transformations of ``cfg.policy``, in that order."""
    keys = jax.random.split(key, len(cfg.policy))
    for name, k in zip(cfg.policy, keys):
        if name == "translation":
            x = translate(x, k, cfg.translation)
        elif name == "cutout":
            x = cut_out(x, k, cfg.cutout)
        elif name == "affine":
            x = warp(x, k, cfg.affine)
        else:           # validate() refuses unknown names before anything is traced
            raise ValueError(f"unknown augmentation {name!r}")
    return x


def translate(x: jax.Array, key: jax.Array, fraction: float) -> jax.Array:
    """Each sample shifted by a whole number of pixels, up to ``fraction`` of its size
    along each axis."""
    _, h, w, _ = x.shape
    pad = max(int(round(fraction * max(h, w))), 1)
    shifts = jax.random.randint(key, (x.shape[0], 2), -pad, pad + 1)
    padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=BACKGROUND)

    def one(image, shift):
        return jax.lax.dynamic_slice(image, (pad - shift[0], pad - shift[1], 0), (h, w, x.shape[3]))
    return jax.vmap(one)(padded, shifts)


def cut_out(x: jax.Array, key: jax.Array, fraction: float) -> jax.Array:
    """Each sample with a square of side ``fraction`` of its size, centred anywhere in
    the image, set to the background."""
    n, h, w, _ = x.shape
    side_h, side_w = max(int(round(fraction * h)), 1), max(int(round(fraction * w)), 1)
    centres = jax.random.uniform(key, (n, 2)) * jnp.array([h, w])
    rows = jnp.arange(h)[None, :] - (centres[:, :1] - side_h / 2)      # [n, h]
    cols = jnp.arange(w)[None, :] - (centres[:, 1:] - side_w / 2)      # [n, w]
    inside = ((rows >= 0) & (rows < side_h))[:, :, None] & ((cols >= 0) & (cols < side_w))[:, None, :]
    keep = (~inside)[..., None].astype(x.dtype)
    return x * keep + BACKGROUND * (1 - keep)


def warp(x: jax.Array, key: jax.Array, strength: float) -> jax.Array:
    """Each sample through a small random affine map about its centre: rotation of up
    to ``strength`` radians, scale within 1 +- ``strength``, shear up to ``strength``;
    bilinear resampling, background outside."""
    n, h, w, c = x.shape
    angle, scale, shear = (jax.random.uniform(k, (n,), minval=-strength, maxval=strength)
                           for k in jax.random.split(key, 3))
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    # output pixel -> input pixel: the inverse of rotate(scale(shear(.)))
    m = jnp.stack([jnp.stack([cos, -sin + shear * cos], -1), jnp.stack([sin, cos + shear * sin], -1)], -2)
    m = m / (1.0 + scale)[:, None, None]
    centre = jnp.array([(h - 1) / 2, (w - 1) / 2])
    grid = jnp.stack(jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij"), -1).reshape(-1, 2) - centre

    def one(image, matrix):
        coords = (grid @ matrix.T + centre).T                       # [2, h*w]
        channels = [map_coordinates(image[..., ch], list(coords), order=1, mode="constant",
                                    cval=BACKGROUND) for ch in range(c)]
        return jnp.stack(channels, -1).reshape(h, w, c)
    return jax.vmap(one)(x, m.astype(x.dtype))
