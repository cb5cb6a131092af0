"""DCGAN-style generator and discriminator without BatchNorm.

BatchNorm would mix statistics across the images of one task and breaks when a task
is adapted alone, so the networks use LayerNorm (default) or GroupNorm.  The
generator upsamples with a convolution followed by depth-to-space (sub-pixel
convolution): the same function class as a stride-2 transposed convolution, but its
weight gradient is far cheaper on CPU.

``model.arch=reference`` is the 28x28 DCGAN of the speed benchmark (docs/BENCHMARKS.md),
without normalisation: its transposed convolutions are ``ConvTranspose4x4s2``, the
exact function and parameters of a 4x4 stride-2 transposed convolution (padding 1),
computed without XLA's transposed convolution (on CPU, ``model.conv=matmul``: one
matmul and an overlap-add, whose derivatives are matmuls and slices).
"""
from __future__ import annotations

import math
from typing import Any

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


def conv_impl(cfg: ModelConfig) -> str:
    """model.conv: ``matmul`` (patches x kernel matrix) or ``xla`` (lax convolutions).
    ``auto`` is matmul for the reference model on CPU: XLA's CPU convolution weight
    gradients run 30-100x slower inside a while loop (a scanned inner loop, mapped
    tasks) than outside one, while a matmul runs equally fast in both."""
    if cfg.conv != "auto":
        return cfg.conv
    return "matmul" if cfg.arch == "reference" and jax.default_backend() == "cpu" else "xla"


def _same_padding(size: int, k: int, s: int) -> tuple[int, int]:
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv2d(x: jax.Array, kernel: jax.Array, strides=(1, 1), padding="SAME",
           impl: str = "xla") -> jax.Array:
    """NHWC x HWIO convolution (no bias).  ``impl=matmul`` gathers the k x k patches by
    strided slicing and multiplies them by the kernel as a matrix: the same sums, whose
    derivatives of any order are slices, pads and matmuls."""
    kh, kw, c_in, c_out = kernel.shape
    if padding == "SAME":
        padding = (_same_padding(x.shape[1], kh, strides[0]), _same_padding(x.shape[2], kw, strides[1]))
    if impl == "xla":
        return jax.lax.conv_general_dilated(x, kernel, strides, padding,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    (sh, sw), ((pt, pb), (pl, pr)) = strides, padding
    x = jnp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    if (sh, sw) == (2, 2) and kh % 2 == 0 and kw % 2 == 0 and x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0:
        return _conv_stride2_matmul(x, kernel)
    ho, wo = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    cols = [x[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]
            for i in range(kh) for j in range(kw)]
    patches = jnp.concatenate(cols, axis=-1) if len(cols) > 1 else cols[0]   # (i, j, c) order
    return jnp.einsum("bhwk,ko->bhwo", patches, kernel.reshape(kh * kw * c_in, c_out))


def _conv_stride2_matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """A stride-2 VALID convolution with an even kernel on an even-sized (padded) input:
    after space-to-depth (2x2 pixel blocks into channels) it is a stride-1 convolution
    with a kernel half the size, whose patches are kh/2 x kw/2 contiguous slices of 4 C
    channels: fewer, larger copies than kh x kw strided slices of C.  (Stacked, not
    concatenated: XLA:CPU fuses a stack of slices into one copy, a concatenate not.)"""
    b, hp, wp, c = x.shape
    kh, kw, _, f = kernel.shape
    s = x.reshape(b, hp // 2, 2, wp // 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, hp // 2, wp // 2, 4 * c)
    ho, wo = hp // 2 - kh // 2 + 1, wp // 2 - kw // 2 + 1
    patches = jnp.stack([s[:, u:u + ho, v:v + wo] for u in range(kh // 2) for v in range(kw // 2)],
                        axis=3)                                       # (u, v, r, s, c) order
    # tap (i, j) = (2u + r, 2v + s)
    matrix = kernel.reshape(kh // 2, 2, kw // 2, 2, c, f).transpose(0, 2, 1, 3, 4, 5)
    return (patches.reshape(-1, kh * kw * c) @ matrix.reshape(kh * kw * c, f)).reshape(b, ho, wo, f)


class Conv(nn.Module):
    """``flax.linen.Conv`` with the same parameters (names, shapes, initialisers) and the
    choice of implementation of ``conv2d``."""
    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: Any = "SAME"
    impl: str = "xla"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (*self.kernel_size, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return conv2d(x, kernel, self.strides, self.padding, self.impl) + bias


# A 4-tap, stride-2, padding-1 transposed convolution, per output phase a (row parity):
# out[2m] = x[m-1] w[3] + x[m] w[1],  out[2m+1] = x[m] w[2] + x[m+1] w[0]: phase a reads
# the input rows at offsets a + (0, 1) of the input padded by 1, with taps _TAPS[a].
_TAPS = ((3, 1), (2, 0))


def conv_transpose_4x4s2_matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """PyTorch's ConvTranspose2d(k=4, s=2, p=1) (no bias) as one matmul and a col2im:
    each input pixel times the kernel matrix [Cin, 4*4*F] gives its 4x4 output patch,
    and the patches of neighbouring pixels overlap-add.  Output row o = 2i - 1 + k for
    input row i and tap k; with k = 2u + r, row o + 1 of the output padded by one is
    block i + u, phase r: four shifted pads summed, then the phases interleaved.  Its
    derivatives are the same matmul transposed and slices: no im2col of the input."""
    b, h, w, c_in = x.shape
    f = kernel.shape[-1]
    matrix = kernel.reshape(2, 2, 2, 2, c_in, f).transpose(4, 0, 2, 1, 3, 5)   # [Cin, u, v, r, s, F]
    cols = (x.reshape(b * h * w, c_in) @ matrix.reshape(c_in, 16 * f)).reshape(b, h, w, 4, 2, 2, f)
    # split (its transpose is one concatenate; indexing's would add four padded copies)
    parts = jnp.split(cols, 4, axis=3)
    blocks = sum(jnp.pad(parts[2 * u + v][:, :, :, 0], ((0, 0), (u, 1 - u), (v, 1 - v), (0, 0), (0, 0), (0, 0)))
                 for u in range(2) for v in range(2))                          # [B, H+1, W+1, r, s, F]
    padded = blocks.transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h + 2, 2 * w + 2, f)
    return padded[:, 1:-1, 1:-1]


class ConvTranspose4x4s2(nn.Module):
    """``ConvTranspose2d(kernel 4, stride 2, padding 1)`` (PyTorch's): [B, H, W, Cin] ->
    [B, 2H, 2W, features], with a [4, 4, Cin, features] kernel and a bias (the same
    function and parameters), computed without a transposed convolution
    (``impl=matmul``: ``conv_transpose_4x4s2_matmul``; ``xla``: one 3x3 convolution into
    4 x features channels, one per output phase, whose unused taps are zero, then
    depth-to-space)."""
    features: int
    impl: str = "xla"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c_in = x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (4, 4, c_in, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        if self.impl != "xla":
            return conv_transpose_4x4s2_matmul(x, kernel) + bias
        # phase (a, c) of the output is a 2x2 convolution of the input padded by one
        k3 = jnp.zeros((3, 3, c_in, 4, self.features), kernel.dtype)
        for i, (a, c) in enumerate((a, c) for a in range(2) for c in range(2)):
            taps = kernel[jnp.array(_TAPS[a])][:, jnp.array(_TAPS[c])]
            k3 = k3.at[a:a + 2, c:c + 2, :, i].set(taps)
        xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        y = jax.lax.conv_general_dilated(xp, k3.reshape(3, 3, c_in, 4 * self.features), (1, 1),
                                         "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return depth_to_space(y + jnp.tile(bias, 4))


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
    """Conv(w, 4, s2, p1), LeakyReLU .2, Conv(2w, 4, s2, p1), LeakyReLU .2, Dense(1)."""
    cfg: ModelConfig
    aux_classes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array):
        for width in (self.cfg.width, 2 * self.cfg.width):
            x = Conv(width, (4, 4), (2, 2), ((1, 1), (1, 1)), conv_impl(self.cfg))(x)
            x = nn.leaky_relu(x, 0.2)
        features = x.reshape(x.shape[0], -1)
        logit = nn.Dense(1)(features)[:, 0]
        aux = nn.Dense(self.aux_classes, name="aux_head")(features) if self.aux_classes else None
        return logit, aux


def generator(cfg: ModelConfig) -> nn.Module:
    return ReferenceGenerator(cfg) if cfg.arch == "reference" else Generator(cfg)


def discriminator(cfg: ModelConfig, aux_classes: int = 0) -> nn.Module:
    if cfg.arch == "reference":
        return ReferenceDiscriminator(cfg, aux_classes)
    return Discriminator(cfg, aux_classes)


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
