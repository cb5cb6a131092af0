import dataclasses
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metagan_cli.config import OptimConfig
from metagan_cli.core.episodes import sample_episodes
from metagan_cli.core.gan import Gan
from metagan_cli.core.loop_layout import map_over_tasks, resolve_unroll
from metagan_cli.core.losses import discriminator_loss, generator_loss
from metagan_cli.core.meta_state import init_meta_state
from metagan_cli.core.algorithms import make_meta_step
from metagan_cli.core.task_parallel import mean_over_tasks
from metagan_cli.data.tasks import TaskData, to_class_images
from helpers import inner_loop, tiny_config

tree_close = lambda a, b, **kw: jax.tree_util.tree_map(
    lambda x, y: np.testing.assert_allclose(x, y, **kw), a, b)


def _setup(**overrides):
    cfg = tiny_config(**overrides)
    gan = Gan(cfg.model, cfg.gan_loss)
    params = gan.init(jax.random.PRNGKey(0))
    support = jax.random.uniform(jax.random.PRNGKey(1), (4, 8, 8, 1), minval=-1, maxval=1)
    return cfg, gan, params, support


def test_zero_steps_return_the_initialisation():
    cfg, gan, params, support = _setup()
    adapted, losses = inner_loop(gan, cfg, 0)(
        params, support, jax.random.PRNGKey(2))
    tree_close(adapted, params)
    assert losses.shape == (0, 2)


def test_one_sgd_step_is_a_discriminator_then_a_generator_gradient_step():
    cfg, gan, params, support = _setup()
    lr, key = cfg.inner_optim.lr, jax.random.PRNGKey(3)
    adapted, losses = inner_loop(gan, cfg, 1)(params, support, key)

    # by hand: the step's key -> one key per D update and one for the G update
    @jax.jit      # compiled: op-by-op dispatch of the reference costs more than its compile
    def by_hand(params):
        step_key = jax.random.split(key, 1)[0]
        d_key, g_key = jax.random.split(step_key, 2)
        z_key, gp_key = jax.random.split(d_key)
        fake = gan.sample(params["g"], z_key, 4)
        d_grad = jax.grad(lambda d: discriminator_loss(gan.loss, gan.discriminate, d, support, fake, gp_key))(params["d"])
        d_new = jax.tree_util.tree_map(lambda p, g: p - lr * g, params["d"], d_grad)
        g_grad = jax.grad(lambda g: generator_loss(gan.loss, gan.discriminate, d_new, gan.sample(g, g_key, 4)))(params["g"])
        return d_new, jax.tree_util.tree_map(lambda p, g: p - lr * g, params["g"], g_grad)
    d_new, g_new = by_hand(params)
    tree_close(adapted["d"], d_new, rtol=1e-5, atol=1e-6)
    tree_close(adapted["g"], g_new, rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(losses))


@pytest.mark.slow    # the quick loop's time (README)
@pytest.mark.parametrize("n_critic", [1, 2])
def test_reuse_fake_gives_the_g_update_the_last_d_updates_batch(n_critic):
    """algo.reuse_fake: G steps on the very images the last D update saw (the PyTorch
    reference's inner step), judged by the updated D; earlier critic updates draw their own."""
    import dataclasses
    cfg, gan, params, support = _setup()
    cfg = dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, reuse_fake=True, n_critic=n_critic))
    lr, key = cfg.inner_optim.lr, jax.random.PRNGKey(3)
    adapted, losses = inner_loop(gan, cfg, 1)(params, support, key)

    keys = jax.random.split(jax.random.split(key, 1)[0], n_critic + 1)
    d = params["d"]
    for i in range(n_critic):
        z_key, gp_key = jax.random.split(keys[i])
        fake = gan.sample(params["g"], z_key, 4)
        d_grad = jax.grad(lambda d: discriminator_loss(gan.loss, gan.discriminate, d, support, fake, gp_key))(d)
        d = jax.tree_util.tree_map(lambda p, g: p - lr * g, d, d_grad)
    g_grad = jax.grad(lambda g: generator_loss(gan.loss, gan.discriminate, d, gan.sample(g, z_key, 4)))(params["g"])
    g_new = jax.tree_util.tree_map(lambda p, g: p - lr * g, params["g"], g_grad)
    tree_close(adapted["d"], d, rtol=1e-5, atol=1e-6)
    tree_close(adapted["g"], g_new, rtol=1e-5, atol=1e-6)
    fresh = inner_loop(gan, dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, reuse_fake=False)), 1)(params, support, key)[0]
    assert not np.allclose(fresh["g"]["Dense_0"]["kernel"], adapted["g"]["Dense_0"]["kernel"])


@pytest.mark.slow    # the quick loop's time (README)
@pytest.mark.parametrize("unroll, remat", [(1, False), (2, "step"), ("full", False), (2, "nested")])
def test_loop_structure_does_not_change_the_result(unroll, remat):
    cfg, gan, params, support = _setup()
    reference = inner_loop(gan, cfg, 5)(params, support, jax.random.PRNGKey(4))
    loop = cfg.loop.__class__(scan_unroll=unroll, task_batching="unrolled", remat=remat)
    other = jax.jit(inner_loop(gan, dataclasses.replace(cfg, loop=loop), 5))(params, support, jax.random.PRNGKey(4))
    tree_close(other, reference, rtol=2e-4, atol=1e-5)
    assert other[1].shape == (5, 2)


@pytest.mark.parametrize("batching", ["vmap", "map", "unrolled"])
def test_task_batching_strategies_agree(batching):
    fn = lambda x, k: (jnp.sum(x ** 2) + jax.random.normal(k), {"y": x * 2})
    xs, keys = jnp.arange(6.0).reshape(3, 2), jax.random.split(jax.random.PRNGKey(0), 3)
    out = map_over_tasks(fn, batching)(xs, keys)
    ref = jax.vmap(fn)(xs, keys)
    tree_close(out, ref, rtol=1e-6)


@pytest.mark.parametrize("batching", ["vmap", "map", "unrolled"])
def test_mean_over_tasks_is_the_mean_of_the_per_task_results(batching):
    fn = lambda shared, x, k: {"a": shared * jnp.sum(x ** 2) + jax.random.normal(k), "b": x * shared}
    xs, keys = jnp.arange(8.0).reshape(4, 2), jax.random.split(jax.random.PRNGKey(0), 4)
    out = jax.jit(mean_over_tasks(fn, batching))(jnp.float32(3.0), xs, keys)
    ref = jax.tree_util.tree_map(lambda x: jnp.mean(x, axis=0),
                                 jax.vmap(fn, in_axes=(None, 0, 0))(jnp.float32(3.0), xs, keys))
    tree_close(out, ref, rtol=1e-6)


def test_auto_unroll_is_full_on_cpu_for_short_loops_and_rolled_on_gpu():
    loop = tiny_config().loop.__class__(scan_unroll="auto")
    assert resolve_unroll(loop.scan_unroll, 10, "cpu", fast=False) == 10
    assert resolve_unroll(loop.scan_unroll, 10, "gpu", fast=False) == 1


def _digits_like_data():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 6).astype(np.int32)
    pixels = rng.integers(0, 256, (60, 8, 8, 1)).astype(np.uint8)
    return to_class_images(TaskData(pixels, labels, [str(i) for i in range(10)], tuple(range(7)), (7, 8, 9)))


@pytest.mark.slow    # the quick loop's time (README)
def test_reptile_step_with_outer_sgd_moves_init_by_lr_times_mean_displacement():
    eps = 0.5
    cfg = tiny_config(outer_optim=OptimConfig(name="sgd", lr=eps))
    gan = Gan(cfg.model, cfg.gan_loss)
    data, classes = _digits_like_data(), jnp.arange(7)
    state = init_meta_state(cfg, gan)
    new_state, metrics = jax.jit(make_meta_step(cfg, gan))(state, data, classes)

    # by hand: the same episodes and task keys, adapted one task at a time
    key = jax.random.fold_in(state["key"], 0)
    episode_key, inner_key = jax.random.split(key)
    _, support, _ = sample_episodes(episode_key, data, classes, cfg.algo.meta_batch, cfg.shots)
    inner = inner_loop(gan, cfg, cfg.algo.inner_steps)
    adapted = [inner(state["params"], s, k)[0]
               for s, k in zip(support, jax.random.split(inner_key, cfg.algo.meta_batch))]
    mean = jax.tree_util.tree_map(lambda *a: sum(a) / len(a), *adapted)
    expected = jax.tree_util.tree_map(lambda p, m: p + eps * (m - p), state["params"], mean)
    tree_close(new_state["params"], expected, rtol=1e-4, atol=1e-6)
    assert int(new_state["step"]) == 1
    assert np.isfinite(float(metrics["d_loss"])) and np.isfinite(float(metrics["g_loss"]))


def _after_two_meta_steps(cfg):
    """The parameter leaves after two meta-steps of ``cfg`` on digit-like data."""
    gan = Gan(cfg.model, cfg.gan_loss)
    step = jax.jit(make_meta_step(cfg, gan))
    state = init_meta_state(cfg, gan)
    for _ in range(2):
        state, _ = step(state, _digits_like_data(), jnp.arange(7))
    return jax.tree_util.tree_leaves(state["params"])


def test_same_seed_same_numbers_and_another_seed_differs():
    two_steps = lambda seed: _after_two_meta_steps(tiny_config(seed=seed))
    a, b, c = two_steps(0), two_steps(0), two_steps(1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.allclose(x, y) for x, y in zip(a, c))


def test_adam_inner_optimiser_runs_and_changes_both_networks():
    cfg, gan, params, support = _setup(inner_optim=OptimConfig(name="adam", lr=1e-2))
    adapted, _ = inner_loop(gan, cfg, 2)(params, support, jax.random.PRNGKey(5))
    for net in ("g", "d"):
        moved = jax.tree_util.tree_map(lambda a, b: float(jnp.max(jnp.abs(a - b))), adapted[net], params[net])
        assert max(jax.tree_util.tree_leaves(moved)) > 1e-3


def test_reptile_with_one_inner_sgd_step_is_its_closed_form():
    """theta' = theta - eps * alpha * mean_t [grad_d L_D(theta; s_t), grad_g L_G(theta_g; d_t)],
    d_t = theta_d - alpha grad_d L_D(theta; s_t): one D step, then one G step against it."""
    alpha, eps = 0.05, 0.5
    cfg = tiny_config(algo=tiny_config().algo.__class__(meta_batch=3, inner_steps=1),
                      inner_optim=OptimConfig(name="sgd", lr=alpha),
                      outer_optim=OptimConfig(name="sgd", lr=eps))
    gan = Gan(cfg.model, cfg.gan_loss)
    data, classes = _digits_like_data(), jnp.arange(7)
    state = init_meta_state(cfg, gan)
    new_state, _ = jax.jit(make_meta_step(cfg, gan))(state, data, classes)

    theta = state["params"]
    episode_key, inner_key = jax.random.split(jax.random.fold_in(state["key"], 0))
    _, support, _ = sample_episodes(episode_key, data, classes, 3, cfg.shots)
    @jax.jit      # compiled once for the three tasks (op-by-op dispatch costs more)
    def task_gradients(s, task_key):
        d_key, g_key = jax.random.split(jax.random.split(task_key, 1)[0], 2)
        z_key, gp_key = jax.random.split(d_key)
        fake = gan.sample(theta["g"], z_key, cfg.shots)
        d_grad = jax.grad(lambda d: discriminator_loss(gan.loss, gan.discriminate, d, s, fake, gp_key))(theta["d"])
        d_task = jax.tree_util.tree_map(lambda p, g: p - alpha * g, theta["d"], d_grad)
        g_grad = jax.grad(lambda g: generator_loss(gan.loss, gan.discriminate, d_task,
                                                   gan.sample(g, g_key, cfg.shots)))(theta["g"])
        return d_grad, g_grad

    d_grads, g_grads = [], []
    for s, task_key in zip(support, jax.random.split(inner_key, 3)):
        d_grad, g_grad = task_gradients(s, task_key)
        d_grads.append(d_grad), g_grads.append(g_grad)
    mean = lambda trees: jax.tree_util.tree_map(lambda *xs: sum(xs) / len(xs), *trees)
    expected = {"d": jax.tree_util.tree_map(lambda p, g: p - eps * alpha * g, theta["d"], mean(d_grads)),
                "g": jax.tree_util.tree_map(lambda p, g: p - eps * alpha * g, theta["g"], mean(g_grads))}
    tree_close(new_state["params"], expected, rtol=1e-4, atol=1e-6)


def test_adapt_steps_default_to_the_runs_own_then_the_algorithms_then_inner_steps():
    from metagan_cli.core.algorithms import algorithm
    cfg = tiny_config()
    with_own = dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, adapt_steps=0))
    dagan = dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, name="dagan"))
    assert algorithm(cfg).default_adapt_steps(cfg) == cfg.algo.inner_steps > 0
    assert algorithm(with_own).default_adapt_steps(with_own) == 0
    assert algorithm(dagan).default_adapt_steps(dagan) == 0


@pytest.mark.parametrize("name", ["reptile", "pretrain"])
def test_meta_training_ignores_the_adaptation_only_settings(name):
    """algo.adapt_g and algo.freeze_d act on adaptation (and MAML's inner loops) only,
    algo.sample_temperature on drawing images to keep: Reptile meta-trains, and pretrain
    trains, the same parameters bit for bit with or without them (which is why the
    quality ablation's rows that differ only in them share one pretrain baseline)."""
    def two_steps(**algo):
        cfg = tiny_config()
        return _after_two_meta_steps(dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, name=name, **algo)))
    plain = two_steps()
    for partial in (two_steps(adapt_g="norm"), two_steps(freeze_d=1), two_steps(sample_temperature=1.5)):
        assert all(np.array_equal(x, y) for x, y in zip(plain, partial))
