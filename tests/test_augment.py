"""Differentiable augmentation of D's inputs: shapes, what each transformation does,
gradients through it, and the inner loop with and without it."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metagan_cli.config import AugmentConfig, ConfigError, validate
from metagan_cli.core.augment import BACKGROUND, augment, cut_out, translate, warp
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import make_adaptation
from metagan_cli.core.meta_state import init_params
from helpers import tiny_config

ALL = AugmentConfig(policy=("affine", "translation", "cutout"))


def _images(n=6, size=16, channels=1, seed=0):
    return jax.random.uniform(jax.random.PRNGKey(seed), (n, size, size, channels), minval=-1, maxval=1)


@pytest.mark.parametrize("policy", [("translation",), ("cutout",), ("affine",), ALL.policy])
def test_every_policy_keeps_shape_dtype_and_range(policy):
    x = _images(channels=3)
    out = augment(x, jax.random.PRNGKey(1), AugmentConfig(policy=policy))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= -1.0 - 1e-6 and float(out.max()) <= 1.0 + 1e-6
    assert not np.allclose(out, x)          # it did something
    again = augment(x, jax.random.PRNGKey(1), AugmentConfig(policy=policy))
    np.testing.assert_array_equal(out, again)   # a function of the key


def test_translation_moves_a_dot_by_a_whole_shift_within_the_range():
    x = jnp.full((32, 16, 16, 1), BACKGROUND).at[:, 8, 8, 0].set(1.0)
    out = translate(x, jax.random.PRNGKey(2), 0.125)        # up to 2 pixels
    where = np.argwhere(np.asarray(out[..., 0]) == 1.0)
    assert len(where) == 32                                  # each dot moved, none lost
    shifts = where[:, 1:] - 8
    assert np.abs(shifts).max() <= 2 and len({tuple(s) for s in shifts}) > 3


def test_cutout_blanks_at_most_one_square_of_the_given_side():
    x = jnp.ones((64, 16, 16, 1))
    out = np.asarray(cut_out(x, jax.random.PRNGKey(3), 0.5))
    blanked = (out == BACKGROUND).sum(axis=(1, 2, 3))
    assert blanked.max() == 64 and blanked.min() > 0          # 8x8, clipped at the borders
    assert set(np.unique(out)) <= {BACKGROUND, 1.0}


def test_affine_at_zero_strength_is_the_identity():
    x = _images()
    np.testing.assert_allclose(warp(x, jax.random.PRNGKey(4), 0.0), x, atol=1e-5)


def test_gradients_flow_through_and_match_finite_differences():
    """The augmentation is linear in the pixels (for a fixed key): its JVP along any
    direction is the central difference, and the pullback of a non-zero cotangent is
    non-zero (G's gradient passes through D's augmented input)."""
    key = jax.random.PRNGKey(5)
    with jax.enable_x64(True):
        x = _images().astype(jnp.float64)
        v = jax.random.normal(jax.random.PRNGKey(6), x.shape, jnp.float64)
        f = lambda y: augment(y, key, ALL)
        _, tangent = jax.jvp(f, (x,), (v,))
        eps = 1e-6
        numeric = (f(x + eps * v) - f(x - eps * v)) / (2 * eps)
        np.testing.assert_allclose(tangent, numeric, rtol=1e-6, atol=1e-8)
        grad = jax.grad(lambda y: jnp.sum(f(y) ** 2))(x)
        assert float(jnp.abs(grad).sum()) > 0


def test_unknown_transformation_is_refused_with_its_key():
    cfg = tiny_config(augment=AugmentConfig(policy=("mirror",)))
    with pytest.raises(ConfigError, match="augment.policy: unknown transformation 'mirror'"):
        validate(cfg)
    with pytest.raises(ConfigError, match=r"augment.cutout must be >= 0 and < 1, got 1.5"):
        validate(tiny_config(augment=AugmentConfig(policy=("cutout",), cutout=1.5)))


@pytest.mark.slow    # the quick loop's time (README)
def test_the_inner_loop_with_augmentation_differs_and_stays_deterministic():
    plain_cfg = tiny_config()
    aug_cfg = dataclasses.replace(plain_cfg, augment=AugmentConfig(policy=("translation", "cutout")))
    support = _images(n=4, size=8)
    key = jax.random.PRNGKey(7)
    results = []
    for cfg in (plain_cfg, aug_cfg, aug_cfg):
        gan = Gan.of(cfg)
        adapted, losses = jax.jit(make_adaptation(gan, cfg, 3))(init_params(cfg, gan), support, key)
        assert bool(jnp.all(jnp.isfinite(losses)))
        results.append(adapted)
    leaves = [jax.tree_util.tree_leaves(r) for r in results]
    assert not all(np.allclose(a, b) for a, b in zip(leaves[0], leaves[1]))
    for a, b in zip(leaves[1], leaves[2]):
        np.testing.assert_array_equal(a, b)


def test_the_mode_seeking_term_changes_the_generators_updates_only():
    """With the term on, the first D update (before G has moved) is the same and G's
    first update differs."""
    from metagan_cli.config import GanLossConfig
    plain_cfg = tiny_config()
    ms_cfg = dataclasses.replace(plain_cfg, gan_loss=GanLossConfig(mode_seeking=1.0))
    support = _images(n=4, size=8)
    key = jax.random.PRNGKey(8)
    out = []
    for cfg in (plain_cfg, ms_cfg):
        gan = Gan.of(cfg)
        adapted, losses = jax.jit(make_adaptation(gan, cfg, 1))(init_params(cfg, gan), support, key)
        out.append((adapted, losses))
    (plain, plain_losses), (ms, ms_losses) = out
    for a, b in zip(jax.tree_util.tree_leaves(plain["d"]), jax.tree_util.tree_leaves(ms["d"])):
        np.testing.assert_array_equal(a, b)
    assert float(ms_losses[0, 1]) > float(plain_losses[0, 1])       # the term is positive
    assert not all(np.allclose(a, b) for a, b in zip(jax.tree_util.tree_leaves(plain["g"]),
                                                     jax.tree_util.tree_leaves(ms["g"])))
