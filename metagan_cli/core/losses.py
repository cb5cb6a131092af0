"""GAN losses as pure functions of discriminator parameters and image batches.

All losses are written as quantities to *minimise*: the discriminator minimises
``discriminator_loss`` and the generator minimises ``generator_loss``.

The optional KL regulariser (``gan_loss.kl_weight > 0``) is the article's term
``E_x KL(p_theta(y|x) || p(y))``: ``p_theta(y|x)`` is the softmax of an auxiliary
class head on the discriminator's features, ``x`` runs over the real images of the
batch, and ``p(y)`` is the batch marginal of ``p_theta(y|x)``.  The discriminator
maximises it (it is the mutual information between an image and the head's class,
so it pushes D's features to separate images into confident, balanced groups),
which enters its loss with a minus sign.  See docs/objective.md.

The optional mode-seeking term (``gan_loss.mode_seeking > 0``) is added to the
generator's loss in every GAN update of an inner loop, adaptation or pretraining.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp

from metagan_cli.config import GanLossConfig
from metagan_cli.core.registry import Registry

DiscriminatorApply = Callable[[dict, jax.Array], tuple[jax.Array, jax.Array | None]]


def kl_to_marginal(aux_logits: jax.Array) -> jax.Array:
    """Mean over the batch of KL(p(y|x) || p(y)), p(y) the batch mean of p(y|x)."""
    log_p = jax.nn.log_softmax(aux_logits, axis=-1)
    log_marginal = jnp.log(jnp.mean(jnp.exp(log_p), axis=0) + 1e-12)
    return jnp.mean(jnp.sum(jnp.exp(log_p) * (log_p - log_marginal), axis=-1))


def mode_seeking(fake: jax.Array, z: jax.Array, eps: float = 1e-5) -> jax.Array:
    """MSGAN's term (Mao et al., 2019), to minimise: the inverse of how far apart two
    halves of a generated batch are, per unit of distance between their latents.  A
    generator collapsing onto a few shots maps distant latents to near-identical images,
    which this term penalises."""
    half = fake.shape[0] // 2
    images = jnp.mean(jnp.abs(fake[:half] - fake[half:2 * half]))
    latents = jnp.mean(jnp.abs(z[:half] - z[half:2 * half]))
    return 1.0 / (images / latents + eps)


# kernel widths for pixel MMD, in units of the mean squared pixel difference of images in
# [-1, 1]: distinct glyphs sit near 0.3-1, an image and a blurred copy near 0.02
MMD_BANDWIDTHS = (0.05, 0.2, 1.0)


def mmd_squared(x: jax.Array, y: jax.Array, bandwidths=MMD_BANDWIDTHS) -> jax.Array:
    """Unbiased MMD^2 between two image sets (a sum of Gaussian kernels on the mean
    squared pixel difference; GMMN, Li et al., 2015): zero in expectation when ``x`` and
    ``y`` come from one distribution, whatever their sizes (each >= 2)."""
    def kernel(a, b):
        d = jnp.mean((a.reshape(a.shape[0], 1, -1) - b.reshape(1, b.shape[0], -1)) ** 2, axis=-1)
        return sum(jnp.exp(-d / w) for w in bandwidths)

    def within(k):
        n = k.shape[0]
        return (jnp.sum(k) - jnp.trace(k)) / (n * (n - 1))
    return within(kernel(x, x)) + within(kernel(y, y)) - 2.0 * jnp.mean(kernel(x, y))


def gradient_penalty(d_apply: DiscriminatorApply, d_params, real, fake, key) -> jax.Array:
    """WGAN-GP: E[(||grad_x D(x_hat)||_2 - 1)^2], the norm over each sample's pixels
    and channels together (not per pixel, as some public code does)."""
    eps = jax.random.uniform(key, (real.shape[0], 1, 1, 1))
    mixed = eps * real + (1.0 - eps) * fake
    grads = jax.grad(lambda x: jnp.sum(d_apply(d_params, x)[0]))(mixed)
    norms = jnp.sqrt(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=-1) + 1e-12)
    return jnp.mean((norms - 1.0) ** 2)


@dataclass(frozen=True)
class GanLoss:
    """A GAN loss: what D minimises from its logits on real and generated images, and
    what G minimises from D's logits on generated ones; ``gradient_penalty``: add
    ``gan_loss.gp_weight`` x the WGAN-GP penalty to D's loss."""
    name: str
    discriminator: Callable[[jax.Array, jax.Array], jax.Array]
    generator: Callable[[jax.Array], jax.Array]
    gradient_penalty: bool = False


GAN_LOSSES: Registry[GanLoss] = Registry("gan_loss.kind")
GAN_LOSSES.register(GanLoss(
    "nonsaturating",
    discriminator=lambda real, fake: jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake)),
    generator=lambda fake: jnp.mean(jax.nn.softplus(-fake))))
GAN_LOSSES.register(GanLoss(
    "hinge",
    discriminator=lambda real, fake: jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake)),
    generator=lambda fake: -jnp.mean(fake)))
GAN_LOSSES.register(GanLoss(
    "wgan_gp",
    discriminator=lambda real, fake: jnp.mean(fake) - jnp.mean(real),
    generator=lambda fake: -jnp.mean(fake),
    gradient_penalty=True))


def discriminator_loss(cfg: GanLossConfig, d_apply: DiscriminatorApply, d_params,
                       real: jax.Array, fake: jax.Array, key: jax.Array) -> jax.Array:
    kind = GAN_LOSSES.get(cfg.kind)
    real_logit, real_aux = d_apply(d_params, real)
    fake_logit, _ = d_apply(d_params, fake)
    loss = kind.discriminator(real_logit, fake_logit)
    if kind.gradient_penalty:
        loss = loss + cfg.gp_weight * gradient_penalty(d_apply, d_params, real, fake, key)
    if cfg.kl_weight > 0.0:
        loss = loss - cfg.kl_weight * kl_to_marginal(real_aux)
    return loss


def generator_loss(cfg: GanLossConfig, d_apply: DiscriminatorApply, d_params,
                   fake: jax.Array) -> jax.Array:
    fake_logit, _ = d_apply(d_params, fake)
    return GAN_LOSSES.get(cfg.kind).generator(fake_logit)
