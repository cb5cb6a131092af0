"""``model=warp``: G resamples its shot along a bounded, smooth displacement field;
``model=warp_set`` reads the whole support set as well; ``model=warp_fusion`` blends the
deformations of two shots of the set."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from metagan_cli.config import ModelConfig, TaskConfig
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import make_adaptation
from metagan_cli.core.meta_state import init_params
from metagan_cli.core.models.warp import (MAX_MIX, MAX_SHIFT, fusion_partners, moment_aligned, resample,
                                          sampling_grid)
from helpers import tiny_config

SIZE = 8


def _config(arch="warp"):
    return tiny_config(task=TaskConfig(image_size=SIZE),
                       model=ModelConfig(arch=arch, image_size=SIZE, z_dim=8, width=8))


def _shots(seed, k=4):
    return jax.random.uniform(jax.random.PRNGKey(seed), (k, SIZE, SIZE, 1), minval=-1, maxval=1)


def test_resample_is_bilinear_with_a_background_outside():
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (2, SIZE, SIZE, 1)).astype(np.float32)
    where = rng.uniform(-1.5, SIZE + 0.5, (2, SIZE, SIZE, 2)).astype(np.float32)
    got = np.asarray(resample(jnp.asarray(images), jnp.asarray(where)))
    for b in range(2):
        want = ndimage.map_coordinates(images[b, ..., 0], where[b].transpose(2, 0, 1), order=1,
                                       mode="grid-constant", cval=-1.0)
        np.testing.assert_allclose(got[b, ..., 0], want, atol=1e-5)


def test_the_identity_map_returns_the_image_and_a_shift_moves_it():
    images = _shots(0, k=2)
    identity = jnp.broadcast_to(jnp.eye(2), (2, 2, 2))
    still = sampling_grid(identity, jnp.zeros((2, 2)), jnp.zeros((2, SIZE, SIZE, 2)))
    np.testing.assert_allclose(resample(images, still), images, atol=1e-6)
    one_pixel = jnp.asarray([[0.0, 1.0 / SIZE]] * 2)            # read one column to the right
    moved = resample(images, sampling_grid(identity, one_pixel, jnp.zeros((2, SIZE, SIZE, 2))))
    np.testing.assert_allclose(moved[:, :, :-1], images[:, :, 1:], atol=1e-5)
    np.testing.assert_allclose(moved[:, :, -1], -1.0, atol=1e-6)          # background comes in


def test_the_noise_draws_small_deformations_of_the_shot_and_the_spread_is_learned():
    cfg = _config()
    gan = Gan.of(cfg)
    assert gan.conditioned and gan.pairs
    params = init_params(cfg, gan)
    shots = _shots(1)
    z = gan.latents(jax.random.PRNGKey(5), 6)
    sources = shots[jnp.arange(6) % 4]
    untrained = gan.generate(params["g"], z, shots)
    assert 1e-3 < float(jnp.abs(untrained - sources).mean()) < 0.5        # near its shot, not it
    still = dict(params["g"], affine_spread=jnp.zeros(6),
                 flow_noise=jax.tree_util.tree_map(jnp.zeros_like, params["g"]["flow_noise"]))
    np.testing.assert_allclose(gan.generate(still, z, shots), sources, atol=1e-5)   # no spread: the shot

    adapted, losses = jax.jit(make_adaptation(gan, cfg, 3))(params, shots, jax.random.PRNGKey(2))
    assert np.isfinite(np.asarray(losses)).all()
    moved = [name for name in ("affine", "affine_spread", "flow", "flow_noise", "encoder_0")
             if not all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(params["g"][name]),
                                                             jax.tree_util.tree_leaves(adapted["g"][name])))]
    assert moved == ["affine", "affine_spread", "flow", "flow_noise", "encoder_0"]
    out = gan.generate(adapted["g"], z, shots)
    assert out.shape == sources.shape and float(jnp.abs(out).max()) <= 1.0 + 1e-5
    other = gan.generate(adapted["g"], gan.latents(jax.random.PRNGKey(6), 6), shots)
    assert float(jnp.abs(out - other).max()) > 1e-3                   # the noise changes the warp


def test_too_small_a_latent_is_refused():
    from metagan_cli.config import ConfigError
    from metagan_cli.core.models import check_model
    with pytest.raises(ConfigError, match="model=warp needs model.z_dim >= 6"):
        check_model(ModelConfig(arch="warp", image_size=SIZE, z_dim=4))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_deformation_stays_within_its_bounds(seed):
    """Whatever the parameters: an image shifted by a random field reads no further than
    the bounds allow, so a sample is always the shot's strokes."""
    cfg = _config()
    gan = Gan.of(cfg)
    params = init_params(cfg, gan)
    params = jax.tree_util.tree_map(                                # large random weights
        lambda p: 50.0 * jax.random.normal(jax.random.PRNGKey(seed), p.shape), params)
    centre = SIZE // 2                                              # a 2x2 blob of ink there
    dot = jnp.full((1, SIZE, SIZE, 1), -1.0).at[0, centre - 1:centre + 1, centre - 1:centre + 1, 0].set(1.0)
    out = gan.generate(params["g"], gan.latents(jax.random.PRNGKey(seed), 4), dot)
    assert float(jnp.abs(out).max()) <= 1.0 + 1e-5
    ink = np.argwhere(np.asarray(out[..., 0]) > -0.99)
    # |linear - I| <= 0.25 per entry, shift <= MAX_SHIFT, flow <= 0.08 (units of the size)
    reach = (0.25 * 2 * 0.5 + MAX_SHIFT + 0.08) * SIZE + 2
    assert len(ink) and np.abs(ink[:, 1:] + 0.5 - centre).max() <= reach


def _heads_drawn(params, seed):
    """The warp's deformation heads start at zero (the shot's code has no effect yet):
    give them random values, as meta-training would."""
    g = dict(params["g"])
    for i, head in enumerate(("affine", "flow")):
        g[head] = jax.tree_util.tree_map(
            lambda p: 0.5 * jax.random.normal(jax.random.PRNGKey(seed + i), p.shape), g[head])
    return g


@pytest.mark.parametrize("arch", ["warp", "warp_set"])
def test_only_warp_set_reads_the_shots_it_does_not_deform(arch):
    """Sample 0 deforms shot 0.  warp_set's deformation follows the other shots too (their
    mean code), whatever their order and number; warp's never looks at them."""
    cfg = _config(arch)
    gan = Gan.of(cfg)
    assert gan.conditioned and gan.pairs
    g = _heads_drawn(init_params(cfg, gan), seed=3)
    z = gan.latents(jax.random.PRNGKey(5), 1)
    shots = _shots(1)
    first = gan.generate(g, z, shots)
    others_changed = shots.at[1:].set(_shots(2)[1:])
    changed = float(jnp.abs(first - gan.generate(g, z, others_changed)).max())
    assert (changed > 1e-3) == (arch == "warp_set")
    reordered = shots.at[1:].set(shots[1:][::-1])
    np.testing.assert_allclose(gan.generate(g, z, reordered), first, atol=1e-5)
    assert gan.generate(g, z, _shots(4, k=7)).shape == first.shape
    alone = gan.generate(g, z, shots[:1])                             # K = 1: the set is the shot
    assert alone.shape == first.shape and float(jnp.abs(alone).max()) <= 1.0 + 1e-5


def test_warp_set_adapts_like_warp():
    """Its parameters are warp's with wider first layers after the code; adaptation moves
    the encoder that reads the set, and norm-only adaptation is accepted for it."""
    from metagan_cli.config import validate
    cfg = _config("warp_set")
    gan = Gan.of(cfg)
    params = init_params(cfg, gan)
    warp = init_params(_config(), Gan.of(_config()))
    assert set(params["g"]) == set(warp["g"])
    assert params["g"]["Dense_1"]["kernel"].shape[0] > warp["g"]["Dense_1"]["kernel"].shape[0]
    shots = _shots(1)
    adapted, losses = jax.jit(make_adaptation(gan, cfg, 2))(params, shots, jax.random.PRNGKey(2))
    assert np.isfinite(np.asarray(losses)).all()
    assert not np.array_equal(params["g"]["encoder_0"]["kernel"], adapted["g"]["encoder_0"]["kernel"])
    for adapt_g in ("norm", "spread"):
        validate(dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, adapt_g=adapt_g)))


@pytest.mark.parametrize("k", [1, 2, 4, 5])
def test_each_shot_is_blended_with_every_other_in_turn(k):
    shots = jnp.arange(k, dtype=jnp.float32).reshape(k, 1, 1, 1)
    n = k * max(k - 1, 1)
    partner = np.asarray(fusion_partners(shots, n)).ravel().astype(int)
    source = np.arange(n) % k
    if k == 1:
        assert (partner == 0).all()
        return
    assert (partner != source).all()
    for shot in range(k):
        assert sorted(partner[source == shot]) == sorted(set(range(k)) - {shot})


def _ink_moments(image):
    ink = (np.asarray(image)[..., 0] + 1) / 2
    rows, cols = np.indices(ink.shape)
    centre = np.array([(ink * rows).sum(), (ink * cols).sum()]) / ink.sum()
    spread = np.sqrt((ink * ((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2)).sum() / ink.sum())
    return centre, spread


def test_the_partner_takes_the_shots_position_and_size_and_keeps_its_shape():
    size = 32
    rows, cols = np.indices((size, size))

    def ring(r0, c0, radius):
        return np.clip(1.5 - np.abs(np.hypot(rows - r0, cols - c0) - radius), 0, 1) * 2 - 1

    partner = jnp.asarray(ring(10, 12, 4)[None, ..., None], jnp.float32)
    shot = jnp.asarray(ring(18, 17, 7)[None, ..., None], jnp.float32)
    aligned = moment_aligned(partner, shot)
    want_centre, want_spread = _ink_moments(shot[0])
    centre, spread = _ink_moments(aligned[0])
    np.testing.assert_allclose(centre, want_centre, atol=0.3)
    np.testing.assert_allclose(spread, want_spread, rtol=0.05)
    # a ring again where the shot's is (its stroke thickened by the scaling), not a smear
    assert np.corrcoef(np.ravel(aligned), np.ravel(shot))[0, 1] > 0.8
    assert np.corrcoef(np.ravel(partner), np.ravel(shot))[0, 1] < 0.2
    np.testing.assert_allclose(moment_aligned(shot, shot), shot, atol=1e-4)
    blank = jnp.full_like(shot, -1.0)
    np.testing.assert_allclose(moment_aligned(blank, shot), -1.0, atol=1e-6)


def _with_mix(g, bias):
    """warp_fusion's partner weight pinned: MAX_MIX * sigmoid(bias), z without effect."""
    g = dict(g)
    g["mix"] = {"kernel": jnp.zeros_like(g["mix"]["kernel"]), "bias": jnp.full_like(g["mix"]["bias"], bias)}
    g["mix_spread"] = jnp.zeros_like(g["mix_spread"])
    return g


def test_warp_fusion_blends_the_ink_of_its_shot_and_its_partner():
    """Sample 0 deforms shot 0 and blends in shot 1 (its partner), never shots 2 and 3; the
    blend is linear in ink, so where both are background the sample is too, and two equal
    drawings blend to the drawing, however much the partner weighs."""
    cfg = _config("warp_fusion")
    gan = Gan.of(cfg)
    assert gan.conditioned and gan.pairs
    params = init_params(cfg, gan)
    z = gan.latents(jax.random.PRNGKey(5), 1)
    shots = _shots(1)
    g = _heads_drawn(params, seed=3)
    first = gan.generate(g, z, shots)
    partner_changed = gan.generate(g, z, shots.at[1].set(_shots(2)[1]))
    assert float(jnp.abs(first - partner_changed).max()) > 1e-3
    np.testing.assert_allclose(gan.generate(g, z, shots.at[2:].set(_shots(3)[2:])), first, atol=1e-6)

    blank = jnp.full_like(shots, -1.0)
    np.testing.assert_allclose(gan.generate(g, z, blank), -1.0, atol=1e-6)
    # untrained heads: both shots take the same deformation (one z), so equal shots blend to one
    same = jnp.broadcast_to(shots[:1], shots.shape)
    heavy, light = (gan.generate(_with_mix(params["g"], bias), z, same) for bias in (30.0, -30.0))
    np.testing.assert_allclose(heavy, light, atol=1e-5)
    # two different ones mix linearly in the weight, from the shot alone to MAX_MIX of the partner
    alone, most = (gan.generate(_with_mix(params["g"], bias), z, shots) for bias in (-30.0, 30.0))
    assert float(jnp.abs(alone - most).max()) > 0.1 * MAX_MIX
    half = gan.generate(_with_mix(params["g"], 0.0), z, shots)
    np.testing.assert_allclose(half, (alone + most) / 2, atol=1e-5)


@pytest.mark.slow    # the quick loop's time (README)
def test_warp_fusion_adapts_and_is_refused_a_z_too_small():
    from metagan_cli.config import ConfigError, validate
    cfg = _config("warp_fusion")
    gan = Gan.of(cfg)
    params = init_params(cfg, gan)
    adapted, losses = jax.jit(make_adaptation(gan, cfg, 2))(params, _shots(1), jax.random.PRNGKey(2))
    assert np.isfinite(np.asarray(losses)).all()
    assert not np.array_equal(params["g"]["mix"]["bias"], adapted["g"]["mix"]["bias"])
    small = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, z_dim=6))
    with pytest.raises(ConfigError, match="model=warp_fusion needs model.z_dim >= 7"):
        validate(small)
