"""A generator/discriminator pair as pure functions over one parameter pytree
``{"g": ..., "d": ...}``, so that grad, vmap, scan and checkpoint compose freely."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import jax

from metagan_cli.config import AugmentConfig, GanLossConfig, MetaLearnConfig, ModelConfig
from metagan_cli.core.augment import augment
from metagan_cli.core.models import discriminator, generator, is_conditioned, judges_pairs, pair_sources


@dataclass(frozen=True)
class Gan:
    model: ModelConfig
    loss: GanLossConfig
    augment: AugmentConfig = AugmentConfig()   # what D's inputs go through in training

    @classmethod
    def of(cls, cfg: MetaLearnConfig) -> "Gan":
        return cls(cfg.model, cfg.gan_loss, cfg.augment)

    @property
    def aux_classes(self) -> int:
        return self.loss.kl_classes if self.loss.kl_weight > 0 else 0

    def init(self, key: jax.Array) -> dict:
        return _compiled_init(self, key)

    @property
    def conditioned(self) -> bool:
        """Does the generator take the task's support images (``model=conditioned``)?"""
        return is_conditioned(self.model)

    @property
    def pairs(self) -> bool:
        """Does the discriminator judge (shot, image) pairs (``model=dagan``)?"""
        return judges_pairs(self.model)

    def _init(self, key: jax.Array) -> dict:
        g_key, d_key = jax.random.split(key)
        size, ch = self.model.image_size, self.model.channels
        z = jax.numpy.zeros((1, self.model.z_dim), jax.numpy.float32)   # float32 under x64 too
        x = jax.numpy.zeros((1, size, size, ch), jax.numpy.float32)
        g_inputs = (z, x) if self.conditioned else (z,)
        d_input = jax.numpy.concatenate([x, x], axis=-1) if self.pairs else x
        return {"g": generator(self.model).init(g_key, *g_inputs)["params"],
                "d": discriminator(self.model, self.aux_classes).init(d_key, d_input)["params"]}

    def generate(self, g_params, z: jax.Array, shots: jax.Array | None = None) -> jax.Array:
        """Images from latents ``z`` [B, z_dim]; a conditioned generator also takes the
        task's support images ``shots`` [K, H, W, C] (an unconditioned one ignores them)."""
        if not self.conditioned:
            return generator(self.model).apply({"params": g_params}, z)
        if shots is None:
            raise ValueError("a conditioned generator needs the task's support images (shots)")
        return generator(self.model).apply({"params": g_params}, z, shots)

    def discriminate(self, d_params, x: jax.Array):
        return discriminator(self.model, self.aux_classes).apply({"params": d_params}, x)

    def critic(self, shots: jax.Array | None = None):
        """``d_apply(d_params, images)``, D as the losses call it.  A pair discriminator
        judges each image b beside shot b mod K, the shot a conditioned generator drew
        the b-th sample from; any other D ignores ``shots``."""
        if not self.pairs:
            return self.discriminate
        if shots is None:
            raise ValueError("a pair discriminator needs the task's support images (shots)")
        return lambda d_params, x: self.discriminate(
            d_params, jax.numpy.concatenate([pair_sources(shots, x.shape[0]).astype(x.dtype), x], axis=-1))

    def real_partners(self, real: jax.Array) -> jax.Array:
        """The real images a pair discriminator sees beside the shots: each moved one
        place along the batch, so that a real pair is two different images of a class
        (with K = 1 the shot and itself) where ``real`` are the shots themselves; for
        other discriminators ``real`` as it is."""
        return jax.numpy.roll(real, -1, axis=0) if self.pairs else real

    def for_discriminator(self, x: jax.Array, key: jax.Array) -> jax.Array:
        """``x`` as D sees it in training: through the augmentation, if any (each call
        with its own key; without augmentation ``x`` itself)."""
        return augment(x, key, self.augment) if self.augment.on else x

    def latents(self, key: jax.Array, n: int, temperature: float = 1.0) -> jax.Array:
        """z ~ N(0, temperature^2): training draws at 1; adapt, sample and eval at the
        run's ``algo.sample_temperature`` (above 1, samples stray farther from the shots)."""
        return temperature * jax.random.normal(key, (n, self.model.z_dim))

    def sample(self, g_params, key: jax.Array, n: int, shots: jax.Array | None = None,
               temperature: float = 1.0) -> jax.Array:
        return self.generate(g_params, self.latents(key, n, temperature), shots)


@functools.partial(jax.jit, static_argnums=0)
def _compiled_init(gan: Gan, key: jax.Array) -> dict:
    """``gan``'s initial parameters by one compiled program (compiled once per model):
    run eagerly, the matmul convolutions' many small ops took 15-18 s to initialise the
    default model; the values are the same either way."""
    return gan._init(key)
