"""``algo=dagan`` / ``model=dagan``: G(x, z) turns a shot into another image of its class,
and the pair discriminator compares (x, x') of one class with (x, G(x, z))."""
import jax
import jax.numpy as jnp
import numpy as np

from metagan_cli.config import AlgoConfig, ModelConfig, OptimConfig, TaskConfig
from metagan_cli.core.algorithms import make_meta_step
from metagan_cli.core.episodes import ClassImages
from metagan_cli.core.gan import Gan
from metagan_cli.core.meta_state import init_meta_state
from helpers import tiny_config

SIZE, CLASSES, PER_CLASS = 8, 4, 30


def _config(steps_per_meta_step=2):
    return tiny_config(task=TaskConfig(image_size=SIZE),
                       model=ModelConfig(arch="dagan", image_size=SIZE, z_dim=8, width=8),
                       algo=AlgoConfig(name="dagan", meta_batch=2, inner_steps=steps_per_meta_step),
                       outer_optim=OptimConfig(name="adam", lr=2e-3))


def _bars():
    """Class c: a bright bar across rows 2c and 2c+1 over a noisy background, each image
    its own noise."""
    pixels = np.random.default_rng(0).integers(0, 60, (CLASSES, PER_CLASS, SIZE, SIZE))
    for c in range(CLASSES):
        pixels[c, :, 2 * c:2 * c + 2, :] += 180
    pixels = pixels.astype(np.uint8).reshape(CLASSES * PER_CLASS, SIZE, SIZE, 1)
    data = ClassImages(jnp.asarray(pixels), jnp.arange(0, CLASSES * PER_CLASS, PER_CLASS),
                       jnp.full(CLASSES, PER_CLASS), max_count=PER_CLASS)
    return pixels.astype(np.float32) / 127.5 - 1.0, data


def test_sample_b_comes_from_shot_b_mod_k():
    cfg = _config()
    gan = Gan.of(cfg)
    g = init_meta_state(cfg, gan)["params"]["g"]
    shots = jax.random.uniform(jax.random.PRNGKey(0), (3, SIZE, SIZE, 1), minval=-1, maxval=1)
    z = gan.latents(jax.random.PRNGKey(1), 7)
    before = np.asarray(gan.generate(g, z, shots))
    after = np.asarray(gan.generate(g, z, shots.at[1].set(-shots[1])))
    changed = [b for b in range(7) if not np.allclose(before[b], after[b])]
    assert changed == [1, 4]


def test_the_generator_keeps_the_class_of_its_input_after_a_short_training():
    """Samples drawn from 4 shots of a class are nearest that class's mean image far more
    often than chance (1/4) after 60 dagan meta-steps, and are not copies of their shot.
    (A generator that ignores its shots stays at chance.)"""
    images, data = _bars()
    cfg = _config()
    gan = Gan.of(cfg)
    step = jax.jit(make_meta_step(cfg, gan))
    state = init_meta_state(cfg, gan)
    for _ in range(60):
        state, metrics = step(state, data, jnp.arange(CLASSES))
    assert np.isfinite(float(metrics["d_loss"]))
    means = images.reshape(CLASSES, PER_CLASS, -1).mean(1)
    hits, distance_to_source = 0, []
    for c in range(CLASSES):
        shots = images[c * PER_CLASS:c * PER_CLASS + 4]
        x = np.asarray(gan.sample(state["params"]["g"], jax.random.PRNGKey(c), 16, jnp.asarray(shots)))
        x = x.reshape(16, -1)
        hits += int(np.sum(np.argmin(((x[:, None] - means[None]) ** 2).sum(-1), axis=1) == c))
        distance_to_source.append(np.abs(x - shots.reshape(4, -1)[np.arange(16) % 4]).mean())
    assert hits / (16 * CLASSES) >= 0.75
    assert min(distance_to_source) > 0.05


def test_the_pair_discriminator_sees_only_same_class_pairs(monkeypatch):
    """Every pair D judges in a dagan meta-step starts with a real image; where the second
    image is real too, it is of the same class.  (Class c's images are constant images
    of value 40c + i, so a value names its class.)"""
    values = np.arange(CLASSES * PER_CLASS) % PER_CLASS + 40 * (np.arange(CLASSES * PER_CLASS) // PER_CLASS)
    pixels = np.broadcast_to(values[:, None, None, None], (CLASSES * PER_CLASS, SIZE, SIZE, 1))
    data = ClassImages(jnp.asarray(pixels.astype(np.uint8)), jnp.arange(0, CLASSES * PER_CLASS, PER_CLASS),
                       jnp.full(CLASSES, PER_CLASS), max_count=PER_CLASS)
    judged = []
    original = Gan.discriminate

    def spy(self, d_params, x):
        jax.debug.callback(lambda v: judged.append(np.asarray(v)), x)
        return original(self, d_params, x)
    monkeypatch.setattr(Gan, "discriminate", spy)
    cfg = _config()
    gan = Gan.of(cfg)
    step = jax.jit(make_meta_step(cfg, gan))
    state = init_meta_state(cfg, gan)
    for _ in range(3):
        state, _ = step(state, data, jnp.arange(CLASSES))
    jax.effects_barrier()

    def decoded(channel):
        """Each image's value if it is a constant image of the data set, else None."""
        flat = np.round((channel.reshape(channel.shape[0], -1) + 1.0) * 127.5)
        constant = np.all(flat == flat[:, :1], axis=1)
        return flat[:, 0] if constant.all() and np.isin(flat[:, 0], values).all() else None

    real_pairs = 0
    for x in judged:
        assert x.shape[-1] == 2
        sources = decoded(x[..., 0])
        assert sources is not None                               # the first image is always a real one
        assert len(set(sources // 40)) == 1                      # of the batch's one class
        partners = decoded(x[..., 1])
        if partners is not None:                                 # a real pair
            real_pairs += 1
            np.testing.assert_array_equal(partners // 40, sources // 40)
            assert np.any(partners != sources)                   # not an image and itself
    # each D update judges one batch of real pairs (3 meta-steps x 2 GAN steps)
    assert real_pairs == 6
