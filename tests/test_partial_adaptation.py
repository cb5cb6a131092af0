"""Partial adaptation: frozen layers come out of an adaptation bit-identical, the rest
moves; FreezeD's stages map to the discriminator's layers."""
import dataclasses

import jax
import numpy as np
import pytest

from metagan_cli.config import ConfigError, ModelConfig, TaskConfig, validate
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import make_adaptation
from metagan_cli.core.meta_state import init_params
from metagan_cli.core.partial_adaptation import Freezing
from helpers import tiny_config


def _config(**algo):
    base = tiny_config(task=TaskConfig(image_size=16), model=ModelConfig(image_size=16, z_dim=8, width=8))
    return dataclasses.replace(base, algo=dataclasses.replace(base.algo, **algo))


def _adapt(cfg, steps=3, params=None):
    gan = Gan.of(cfg)
    params = init_params(cfg, gan) if params is None else params
    support = jax.random.uniform(jax.random.PRNGKey(1), (4, 16, 16, 1), minval=-1, maxval=1)
    adapted, _ = jax.jit(make_adaptation(gan, cfg, steps))(params, support, jax.random.PRNGKey(2))
    return params, adapted


def _moved(before, after):
    """{player: {layer: did any of its leaves change}}"""
    return {player: {layer: any(not np.array_equal(a, b) for a, b in zip(
                jax.tree_util.tree_leaves(before[player][layer]), jax.tree_util.tree_leaves(after[player][layer])))
                     for layer in before[player]} for player in ("g", "d")}


@pytest.mark.slow    # the quick loop's time (README)
def test_freeze_d_keeps_the_first_stages_bit_identical_and_moves_the_rest():
    before, after = _adapt(_config(freeze_d=1))
    moved = _moved(before, after)
    assert moved["d"] == {"Conv_0": False, "Conv_1": True, "LayerNorm_0": True, "Dense_0": True}
    assert all(moved["g"].values())
    before, after = _adapt(_config(freeze_d=2))
    moved = _moved(before, after)
    assert moved["d"] == {"Conv_0": False, "Conv_1": False, "LayerNorm_0": False, "Dense_0": True}


@pytest.mark.parametrize("arch", ["dcgan", "conditioned", pytest.param("warp", marks=pytest.mark.slow)])
def test_adapt_g_norm_moves_only_the_generators_norm_layers(arch):
    cfg = _config(adapt_g="norm")
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, arch=arch))
    validate(cfg)
    start = None
    if arch == "warp":      # its heads start at zero, so nothing before them has a gradient yet
        start = _adapt(dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, adapt_g="all")))[1]
    before, after = _adapt(cfg, params=start)
    moved = _moved(before, after)
    assert {layer for layer, m in moved["g"].items() if m} == {
        layer for layer in before["g"] if layer.startswith("LayerNorm")}
    assert any(layer.startswith("encoder") for layer in before["g"]) == (arch in ("conditioned", "warp"))
    assert all(moved["d"].values())


@pytest.mark.parametrize("arch, spreads", [("warp", {"affine_spread", "flow_noise"}),
                                           pytest.param("warp_fusion", {"affine_spread", "flow_noise", "mix_spread"},
                                                        marks=pytest.mark.slow)])
def test_adapt_g_spread_moves_only_the_warps_noise_spreads(arch, spreads):
    cfg = _config(adapt_g="spread")
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, arch=arch))
    validate(cfg)
    before, after = _adapt(cfg)
    moved = _moved(before, after)
    assert {layer for layer, m in moved["g"].items() if m} == spreads
    assert all(moved["d"].values())


def test_no_freezing_is_the_plain_inner_loop():
    _, plain = _adapt(_config())
    _, same = _adapt(_config(freeze_d=0, adapt_g="all"))
    for a, b in zip(jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(same)):
        np.testing.assert_array_equal(a, b)
    assert not Freezing().any and Freezing(freeze_d=1).any


@pytest.mark.parametrize("algo, model, message", [
    ({"adapt_g": "some"}, {}, "algo.adapt_g must be one of all, norm, spread"),
    ({"adapt_g": "spread"}, {}, "algo.adapt_g=spread adapts the warp generator's spreads; use model=warp"),
    ({"adapt_g": "norm"}, {"norm": "none"}, "algo.adapt_g=norm needs a generator with normalisation"),
    ({"freeze_d": -1}, {}, "algo.freeze_d must be >= 0"),
])
def test_bad_settings_are_refused(algo, model, message):
    cfg = _config(**algo)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **model))
    with pytest.raises(ConfigError, match=message):
        validate(cfg)
