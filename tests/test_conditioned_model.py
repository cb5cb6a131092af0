"""``model=conditioned``: the generator follows the support set it is given, whatever
its order or size, and every place a GAN trains gives it the task's shots."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metagan_cli.config import ModelConfig, TaskConfig
from metagan_cli.core.algorithms.maml import make_task_meta_gradient
from metagan_cli.core.algorithms import loop_layout
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import make_adaptation
from metagan_cli.core.meta_state import init_params
from helpers import tiny_config


SIZE = 8      # one encoder stage (8x8 -> 4x4): compiles in seconds


def _config(**overrides):
    model = ModelConfig(arch="conditioned", image_size=SIZE, z_dim=8, width=8)
    return tiny_config(task=TaskConfig(image_size=SIZE), model=model, **overrides)


def _shots(seed, k=4):
    return jax.random.uniform(jax.random.PRNGKey(seed), (k, SIZE, SIZE, 1), minval=-1, maxval=1)


def _encoder_moved(before, after):
    return [name for name in before["g"] if name.startswith("encoder")
            and not np.array_equal(before["g"][name]["kernel"], after["g"][name]["kernel"])]


def test_output_follows_the_support_set_not_its_order():
    cfg = _config()
    gan = Gan.of(cfg)
    assert gan.conditioned
    g = init_params(cfg, gan)["g"]
    z = gan.latents(jax.random.PRNGKey(5), 6)
    a = gan.generate(g, z, _shots(1))
    assert a.shape == (6, SIZE, SIZE, 1) and float(jnp.abs(a).max()) <= 1.0
    assert float(jnp.abs(a - gan.generate(g, z, _shots(2))).max()) > 1e-3        # other shots, other images
    np.testing.assert_allclose(gan.generate(g, z, _shots(1)[::-1]), a, atol=1e-5)   # order does not matter
    assert gan.generate(g, z, _shots(3, k=7)).shape == a.shape                     # any number of shots
    with pytest.raises(ValueError, match="support images"):
        gan.generate(g, z)


def test_an_unconditioned_generator_ignores_shots():
    cfg = tiny_config()
    gan = Gan.of(cfg)
    g = init_params(cfg, gan)["g"]
    z = gan.latents(jax.random.PRNGKey(5), 3)
    shots = _shots(1)
    np.testing.assert_array_equal(gan.generate(g, z), gan.generate(g, z, shots))


def test_adaptation_trains_the_encoder_on_the_tasks_shots():
    cfg = _config()
    gan = Gan.of(cfg)
    params = init_params(cfg, gan)
    adapted, losses = jax.jit(make_adaptation(gan, cfg, 2))(params, _shots(1), jax.random.PRNGKey(2))
    assert np.isfinite(np.asarray(losses)).all()
    assert _encoder_moved(params, adapted) == ["encoder_0"]


def test_first_order_meta_gradient_reaches_the_encoder():
    cfg = _config()     # DAWSON's query critic: the support reaches every G call of the outer losses
    cfg = dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, name="fomaml", queries=3,
                                                            outer_objective="dawson"))
    gan = Gan.of(cfg)
    params = init_params(cfg, gan)
    grad_fn = jax.jit(make_task_meta_gradient(cfg, gan, loop_layout(cfg), first_order=True))
    grad, query_losses, _ = grad_fn(params, _shots(1), _shots(2, k=3), jax.random.PRNGKey(3))
    assert np.isfinite(np.asarray(query_losses)).all()
    assert float(jnp.abs(grad["g"]["encoder_0"]["kernel"]).max()) > 0


def test_pretraining_a_conditioned_generator_draws_one_class_per_batch():
    """Mixed-class batches would teach the encoder that its shots say nothing about the
    images D calls real; a conditioned pretrain draws each batch from one class."""
    from metagan_cli.core.episodes import ClassImages, sample_one_class, sample_pooled
    pixels = np.repeat(np.arange(0, 250, 50, dtype=np.uint8), [3, 5, 2, 4, 6])     # class c: value 50c
    data = ClassImages(jnp.asarray(pixels.reshape(-1, 1, 1, 1)), jnp.asarray([0, 3, 8, 10, 14]),
                       jnp.asarray([3, 5, 2, 4, 6]), max_count=6)
    classes = jnp.asarray([1, 2, 4])
    seen = set()
    for i in range(20):
        batch = np.asarray(sample_one_class(jax.random.PRNGKey(i), data, classes, 16)).ravel()
        assert len(set(batch.tolist())) == 1
        seen.add(round(float((batch[0] + 1) * 127.5)))
    assert seen == {50, 100, 200}
    pooled = np.asarray(sample_pooled(jax.random.PRNGKey(0), data, classes, 16)).ravel()
    assert len(set(pooled.tolist())) > 1


@pytest.mark.parametrize("arch", ["conditioned", "dcgan"])
def test_the_pretrain_step_draws_by_class_only_for_a_conditioned_generator(monkeypatch, arch):
    """The wiring of the sampler above: what a pretrain meta-step actually draws from."""
    from metagan_cli.config import AlgoConfig
    from metagan_cli.core.algorithms import make_meta_step, pretrain
    from metagan_cli.core.episodes import ClassImages
    from metagan_cli.core.meta_state import init_meta_state
    drawn = []

    def spy(name, draw):
        def wrapped(*args):
            drawn.append(name)
            return draw(*args)
        return wrapped
    monkeypatch.setattr(pretrain, "sample_one_class", spy("one class", pretrain.sample_one_class))
    monkeypatch.setattr(pretrain, "sample_pooled", spy("pooled", pretrain.sample_pooled))
    cfg = _config(algo=AlgoConfig(name="pretrain", meta_batch=2, inner_steps=1))
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, arch=arch))
    gan = Gan.of(cfg)
    assert gan.conditioned == (arch == "conditioned")
    pixels = np.random.default_rng(0).integers(0, 256, (40, SIZE, SIZE, 1)).astype(np.uint8)
    data = ClassImages(jnp.asarray(pixels), jnp.arange(0, 40, 10), jnp.full(4, 10), max_count=10)
    state, metrics = make_meta_step(cfg, gan)(init_meta_state(cfg, gan), data, jnp.arange(4))
    assert set(drawn) == {"one class" if gan.conditioned else "pooled"}
    assert np.isfinite(float(metrics["d_loss"])) and int(state["step"]) == 1
