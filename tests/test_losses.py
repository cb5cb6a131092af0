import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metagan_cli.config import GanLossConfig
from metagan_cli.core.losses import (discriminator_loss, generator_loss, gradient_penalty, mmd_squared,
                                     kl_to_marginal)

jax.config.update("jax_enable_x64", False)


def linear_critic(w):
    """D(x) = sum(w * x) per sample: its input gradient is w for every sample."""
    return lambda params, x: (jnp.sum(params * x, axis=(1, 2, 3)), None)


def test_nonsaturating_matches_hand_computation():
    real_logit, fake_logit = 2.0, -1.0
    d_apply = lambda p, x: (jnp.full((x.shape[0],), jnp.where(x[0, 0, 0, 0] > 0, real_logit, fake_logit)), None)
    real, fake = jnp.ones((3, 2, 2, 1)), -jnp.ones((3, 2, 2, 1))
    cfg = GanLossConfig(kind="nonsaturating")
    d = discriminator_loss(cfg, d_apply, None, real, fake, jax.random.PRNGKey(0))
    g = generator_loss(cfg, d_apply, None, fake)
    softplus = lambda v: np.log1p(np.exp(v))
    assert d == pytest.approx(softplus(-real_logit) + softplus(fake_logit), rel=1e-6)
    assert g == pytest.approx(softplus(-fake_logit), rel=1e-6)


def test_hinge_matches_hand_computation():
    d_apply = lambda p, x: (x[:, 0, 0, 0], None)
    real = jnp.array([0.5, 2.0]).reshape(2, 1, 1, 1)
    fake = jnp.array([-0.5, 0.25]).reshape(2, 1, 1, 1)
    cfg = GanLossConfig(kind="hinge")
    d = discriminator_loss(cfg, d_apply, None, real, fake, jax.random.PRNGKey(0))
    assert d == pytest.approx(np.mean([0.5, 0.0]) + np.mean([0.5, 1.25]))
    assert generator_loss(cfg, d_apply, None, fake) == pytest.approx(-np.mean([-0.5, 0.25]))


def test_gradient_penalty_uses_the_norm_over_each_whole_sample():
    w = jnp.arange(1.0, 1.0 + 4 * 4 * 2).reshape(1, 4, 4, 2) / 40.0
    real, fake = jnp.ones((3, 4, 4, 2)), jnp.zeros((3, 4, 4, 2))
    penalty = gradient_penalty(linear_critic(w), w, real, fake, jax.random.PRNGKey(1))
    whole_norm = float(jnp.sqrt(jnp.sum(w ** 2)))
    assert penalty == pytest.approx((whole_norm - 1.0) ** 2, rel=1e-5)
    per_pixel = jnp.mean((jnp.sqrt(jnp.sum(w ** 2, axis=-1)) - 1.0) ** 2)
    assert abs(penalty - per_pixel) > 0.1   # the per-pixel variant (a known bug) differs


def test_wgan_gp_loss_is_critic_gap_plus_weighted_penalty():
    w = jnp.full((1, 2, 2, 1), 0.25)
    real, fake = jnp.ones((2, 2, 2, 1)), -jnp.ones((2, 2, 2, 1))
    cfg = GanLossConfig(kind="wgan_gp", gp_weight=10.0)
    loss = discriminator_loss(cfg, linear_critic(w), w, real, fake, jax.random.PRNGKey(0))
    gap = -1.0 - 1.0                  # mean D(fake) - mean D(real)
    penalty = (0.5 - 1.0) ** 2        # ||w|| = sqrt(4 * 0.25^2) = 0.5
    assert loss == pytest.approx(gap + 10.0 * penalty, rel=1e-5)


def test_kl_regulariser_is_zero_for_uninformative_and_log_k_for_confident_balanced():
    assert kl_to_marginal(jnp.zeros((6, 3))) == pytest.approx(0.0, abs=1e-6)
    confident = 50.0 * jnp.eye(3)
    assert kl_to_marginal(confident) == pytest.approx(np.log(3), rel=1e-4)


def test_kl_regulariser_enters_the_discriminator_loss_with_its_weight():
    aux = jnp.array([[5.0, -5.0], [-5.0, 5.0]])
    d_apply = lambda p, x: (jnp.zeros(x.shape[0]), aux)
    x = jnp.zeros((2, 1, 1, 1))
    key = jax.random.PRNGKey(0)
    plain = discriminator_loss(GanLossConfig(), d_apply, None, x, x, key)
    with_kl = discriminator_loss(GanLossConfig(kl_weight=0.5), d_apply, None, x, x, key)
    assert plain - with_kl == pytest.approx(0.5 * float(kl_to_marginal(aux)), rel=1e-5)


def test_mode_seeking_term_is_large_for_a_collapsed_batch_and_pushes_samples_apart():
    from metagan_cli.core.losses import mode_seeking
    z = jax.random.normal(jax.random.PRNGKey(0), (8, 4))
    spread = jax.random.uniform(jax.random.PRNGKey(1), (8, 3, 3, 1), minval=-1, maxval=1)
    collapsed = jnp.broadcast_to(spread[:1], spread.shape) + 1e-3 * spread
    assert float(mode_seeking(collapsed, z)) > 100 * float(mode_seeking(spread, z))
    # its gradient moves the two halves apart: a small step against it raises their distance
    grad = jax.grad(mode_seeking)(spread, z)
    moved = spread - 0.01 * grad / jnp.max(jnp.abs(grad))
    distance = lambda x: float(jnp.mean(jnp.abs(x[:4] - x[4:])))
    assert distance(moved) > distance(spread)


def test_mmd_is_unbiased_and_matches_the_pairwise_sums():
    """Sets drawn from one distribution: MMD^2 averages to zero (the unbiased estimator
    can go negative); shifted sets: clearly positive.  And the pairwise sums written out."""
    keys = jax.random.split(jax.random.PRNGKey(0), 400)
    draw = lambda k, shift=0.0: jax.random.uniform(k, (4, 3, 3, 1), minval=-1, maxval=1) + shift
    same = jnp.stack([mmd_squared(draw(a), draw(b)) for a, b in zip(keys[:200], keys[200:])])
    assert abs(float(jnp.mean(same))) < 3 * float(jnp.std(same)) / np.sqrt(200)
    assert float(jnp.min(same)) < 0
    shifted = jnp.stack([mmd_squared(draw(a), draw(b, 0.5)) for a, b in zip(keys[:200], keys[200:])])
    assert float(jnp.mean(shifted)) > float(jnp.mean(same)) + 5 * float(jnp.std(shifted)) / np.sqrt(200)
    x, y = draw(keys[0]), draw(keys[1], 1.0)
    k = lambda a, b: sum(np.exp(-np.mean((np.asarray(a) - np.asarray(b)) ** 2) / w) for w in (0.05, 0.2, 1.0))
    xx = sum(k(x[i], x[j]) for i in range(4) for j in range(4) if i != j) / 12
    yy = sum(k(y[i], y[j]) for i in range(4) for j in range(4) if i != j) / 12
    xy = sum(k(x[i], y[j]) for i in range(4) for j in range(4)) / 16
    np.testing.assert_allclose(float(mmd_squared(x, y)), xx + yy - 2 * xy, atol=1e-6)
