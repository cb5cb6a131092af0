"""Which parameters an adaptation moves.

``algo.freeze_d=N`` (FreezeD, Mo et al., 2020) keeps the discriminator's first N stages
(the convolutions nearest the image, and their normalisation) at their meta-learned
values, so that the low-level features a handful of shots would overfit stay general.
``algo.adapt_g=norm`` moves only the generator's normalisation scales and shifts (a
per-layer scale and shift), so that the variety the initialisation generates is kept
while the class changes.  ``algo.adapt_g=spread`` (model=warp, warp_set, warp_fusion) moves only how strongly
the noise deforms the shot (its spreads), so that a class learns how much its drawings
vary while the deformations the initialisation learned stay.  Frozen parameters come
out of every update bit-identical.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax

NORM_LAYERS = ("LayerNorm", "GroupNorm")
SPREADS = ("affine_spread", "flow_noise", "mix_spread")   # the warps: the noise's scale in each deformation (and blend)
ADAPT_G = ("all", "norm", "spread")


@dataclass(frozen=True)
class Freezing:
    freeze_d: int = 0         # the discriminator's first N stages stay as they are
    adapt_g: str = "all"      # all | norm | spread: which generator parameters move

    @classmethod
    def of(cls, algo) -> "Freezing":
        return cls(algo.freeze_d, algo.adapt_g)

    @property
    def any(self) -> bool:
        return self.freeze_d > 0 or self.adapt_g != "all"

    def describe(self) -> str:
        """Which parameters an adaptation moves, as a report says it."""
        if not self.any:
            return "every parameter"
        return f"partially: algo.freeze_d={self.freeze_d}, algo.adapt_g={self.adapt_g}"

    def frozen(self, player: str, layer: str) -> bool:
        """Is ``player``'s ("g" or "d") layer ``layer`` (a flax module name such as
        ``Conv_0`` or ``LayerNorm_1``) kept as it is?"""
        kind, _, index = layer.rpartition("_")
        if player == "d" and self.freeze_d and index.isdigit():
            if kind == "Conv":              # stage i's convolution is Conv_i
                return int(index) < self.freeze_d
            if kind in NORM_LAYERS:         # stage i's norm is the (i-1)-th: the first stage has none
                return int(index) < self.freeze_d - 1
        if player == "g" and self.adapt_g == "norm":
            return kind not in NORM_LAYERS
        if player == "g" and self.adapt_g == "spread":
            return layer not in SPREADS
        return False

    def keep(self, player: str, new, old):
        """``new`` parameters of ``player`` with its frozen layers taken from ``old``."""
        if not self.any:
            return new
        return jax.tree_util.tree_map_with_path(
            lambda path, n, o: o if self.frozen(player, path[0].key) else n, new, old)
