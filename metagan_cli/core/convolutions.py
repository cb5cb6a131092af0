"""Convolution kernels computed as matmuls and slices, for CPU.

XLA's CPU convolution weight gradients run 30-100x slower inside a while loop (a
scanned inner loop, mapped tasks) than outside one, while a matmul runs equally fast in
both; these functions compute the same sums as XLA's convolutions, and their
derivatives of any order are matmuls, slices and pads.  Layers choose them with
``model.conv`` (see ``models.conv_impl``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def depth_to_space(x: jax.Array, factor: int = 2) -> jax.Array:
    """[B, H, W, C*f*f] -> [B, H*f, W*f, C]."""
    b, h, w, c = x.shape
    c_out = c // (factor * factor)
    x = x.reshape(b, h, w, factor, factor, c_out)
    x = x.transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h * factor, w * factor, c_out)


def space_to_depth(x: jax.Array) -> jax.Array:
    """[B, H, W, C] -> [B, H/2, W/2, 4C], each 2x2 pixel block into channels (r, s, c)."""
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, h // 2, w // 2, 4 * c)


def same_padding(size: int, k: int, s: int) -> tuple[int, int]:
    """XLA's SAME padding (before, after) of one spatial axis."""
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv2d(x: jax.Array, kernel: jax.Array, strides=(1, 1), padding="SAME",
           impl: str = "xla") -> jax.Array:
    """NHWC x HWIO convolution (no bias).  ``impl=matmul`` gathers the k x k patches by
    strided slicing and multiplies them by the kernel as a matrix: the same sums."""
    kh, kw, c_in, c_out = kernel.shape
    if padding == "SAME":
        padding = (same_padding(x.shape[1], kh, strides[0]), same_padding(x.shape[2], kw, strides[1]))
    elif padding == "VALID":
        padding = ((0, 0), (0, 0))
    if impl == "xla":
        return jax.lax.conv_general_dilated(x, kernel, strides, padding,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    (sh, sw), ((pt, pb), (pl, pr)) = strides, padding
    x = jnp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    if (sh, sw) == (2, 2) and kh % 2 == 0 and kw % 2 == 0 and x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0:
        return conv_stride2_matmul(x, kernel)
    ho, wo = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    # stacked, not concatenated: XLA:CPU fuses a stack of slices into one copy, a
    # concatenate not (on the default model: a shorter compile, docs/BENCHMARKS.md)
    patches = jnp.stack([x[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]
                         for i in range(kh) for j in range(kw)], axis=3)   # (i, j, c) order
    return (patches.reshape(-1, kh * kw * c_in) @ kernel.reshape(kh * kw * c_in, c_out)
            ).reshape(x.shape[0], ho, wo, c_out)


def conv_stride2_matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """A stride-2 VALID convolution with an even kernel on an even-sized (padded) input:
    after space-to-depth it is a stride-1 convolution with a kernel half the size, whose
    patches are kh/2 x kw/2 contiguous slices of 4 C channels: fewer, larger copies than
    kh x kw strided slices of C.  (Stacked, not concatenated: XLA:CPU fuses a stack of
    slices into one copy, a concatenate not.)"""
    b, hp, wp, c = x.shape
    kh, kw, _, f = kernel.shape
    s = space_to_depth(x)
    ho, wo = hp // 2 - kh // 2 + 1, wp // 2 - kw // 2 + 1
    patches = jnp.stack([s[:, u:u + ho, v:v + wo] for u in range(kh // 2) for v in range(kw // 2)],
                        axis=3)                                       # (u, v, r, s, c) order
    # tap (i, j) = (2u + r, 2v + s)
    matrix = kernel.reshape(kh // 2, 2, kw // 2, 2, c, f).transpose(0, 2, 1, 3, 4, 5)
    return (patches.reshape(-1, kh * kw * c) @ matrix.reshape(kh * kw * c, f)).reshape(b, ho, wo, f)


# A 4-tap, stride-2, padding-1 transposed convolution, per output phase a (row parity):
# out[2m] = x[m-1] w[3] + x[m] w[1],  out[2m+1] = x[m] w[2] + x[m+1] w[0]: phase a reads
# the input rows at offsets a + (0, 1) of the input padded by 1, with taps TAPS[a].
TAPS = ((3, 1), (2, 0))


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


def conv_transpose_4x4s2_phases(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The same function by one 3x3 XLA convolution into 4 x F channels, one per output
    phase (a, c), whose unused taps are zero: [B, H, W, 4F], which ``depth_to_space``
    interleaves into the [B, 2H, 2W, F] output."""
    c_in, f = kernel.shape[2], kernel.shape[3]
    k3 = jnp.zeros((3, 3, c_in, 4, f), kernel.dtype)
    for i, (a, c) in enumerate((a, c) for a in range(2) for c in range(2)):
        taps = kernel[jnp.array(TAPS[a])][:, jnp.array(TAPS[c])]
        k3 = k3.at[a:a + 2, c:c + 2, :, i].set(taps)
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    y = jax.lax.conv_general_dilated(xp, k3.reshape(3, 3, c_in, 4 * f), (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y
