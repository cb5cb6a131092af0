"""MAML's meta-gradients: against finite differences, against their definitions, and
first-order MAML against MAML with the inner gradients stopped."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metagan_cli.config import AlgoConfig, OptimConfig
from metagan_cli.core.gan import Gan
from metagan_cli.core.algorithms import loop_layout
from metagan_cli.core.algorithms.maml import make_outer_losses, make_task_meta_gradient
from metagan_cli.core.meta_state import init_meta_params
from helpers import inner_loop, tiny_config

# second-order compiles take tens of seconds each: out of the quick loop (-m "not slow")
pytestmark = pytest.mark.slow

tree_close = lambda a, b, **kw: jax.tree_util.tree_map(
    lambda x, y: np.testing.assert_allclose(x, y, **kw), a, b)
INNER = {"sgd": OptimConfig(name="sgd", lr=0.05),
         "adam": OptimConfig(name="adam", lr=0.01),
         "sgd-momentum": OptimConfig(name="sgd", lr=0.05, momentum=0.9)}


def _task(cfg, dtype=jnp.float32):
    gan = Gan(cfg.model, cfg.gan_loss)
    params = jax.tree_util.tree_map(lambda p: p.astype(dtype), init_meta_params(cfg, gan))
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    support = jax.random.uniform(keys[0], (4, 8, 8, 1), dtype, -1, 1)
    query = jax.random.uniform(keys[1], (4, 8, 8, 1), dtype, -1, 1)
    return gan, params, support, query, keys[2]


def _jitted_meta_gradient(cfg, gan, **kw):
    """The task meta-gradient, compiled (op-by-op dispatch of a second-order inner loop
    costs more than its one compile)."""
    return jax.jit(make_task_meta_gradient(cfg, gan, loop_layout(cfg), **kw))


def _query_losses(cfg, gan, support, query, key):
    """The two outer losses as a function of the initialisation, built independently of
    the meta-gradient code: adapt, then score (with the key split the same way)."""
    inner = inner_loop(gan, cfg, cfg.algo.inner_steps)
    outer = make_outer_losses(cfg, gan, loop_layout(cfg))

    def losses(params):
        adapt_key, outer_key = jax.random.split(key)
        adapted, _ = inner(params, support, adapt_key)
        scale = params["inner_lr"]["d"] if "inner_lr" in params else None
        return outer(adapted, query, outer_key, scale)
    return losses


def _directions(params, seed):
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    return treedef.unflatten([jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves)])


def _only(tree, player):
    """``tree`` with every leaf outside ``player``'s parameters (and rates) set to zero."""
    def keep(path, x):
        names = [getattr(p, "key", None) for p in path]
        mine = names[0] == player or (names[0] == "inner_lr" and names[1] == player)
        return x if mine else jnp.zeros_like(x)
    return jax.tree_util.tree_map_with_path(keep, tree)


def _check_against_finite_differences(cfg, seeds=(0, 1, 2), eps=1e-8):
    """Central differences along random directions of one player's parameters.  Adam's
    first update is close to sign(g), sharply curved where a gradient is near zero, so
    the step is small (1e-5 is visibly off for Adam; float64 keeps 1e-7 exact enough)."""
    with jax.enable_x64(True):
        gan, params, support, query, key = _task(cfg, jnp.float64)
        grad, query_losses, _ = _jitted_meta_gradient(cfg, gan, first_order=False)(
            params, support, query, key)
        losses = jax.jit(_query_losses(cfg, gan, support, query, key))
        np.testing.assert_allclose(query_losses, losses(params), rtol=1e-12)
        # compiled helpers: dispatched op by op, each leaf's shape would compile its own ops
        direction = jax.jit(lambda seed, player: _only(_directions(params, seed), player),
                            static_argnums=1)
        shifted = jax.jit(lambda v, sign: jax.tree_util.tree_map(lambda p, d: p + sign * eps * d,
                                                                 params, v))
        slope = jax.jit(lambda v: sum(jnp.vdot(g, d) for g, d in zip(
            jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(v))))
        for seed in seeds:
            for index, player in ((0, "d"), (1, "g")):
                v = direction(seed, player)
                numeric = (losses(shifted(v, 1.0))[index] - losses(shifted(v, -1.0))[index]) / (2 * eps)
                analytic = slope(v)
                np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7,
                                           err_msg=f"player {player}, direction {seed}")


# Adam's second-order terms: test_meta_sgd_and_dawson_gradients_match_finite_differences
@pytest.mark.parametrize("inner", ["sgd", "sgd-momentum"])
def test_second_order_meta_gradient_matches_finite_differences(inner):
    # two inner steps: the second differentiates through the first's update (and
    # momentum's state), which is what a first-order gradient would miss
    cfg = tiny_config(algo=AlgoConfig(name="maml", inner_steps=2, queries=4),
                      inner_optim=INNER[inner])
    _check_against_finite_differences(cfg)


def test_meta_sgd_and_dawson_gradients_match_finite_differences():
    cfg = tiny_config(algo=AlgoConfig(name="maml", inner_steps=2, queries=4,
                                      outer_objective="dawson", learn_inner_lr=True),
                      inner_optim=INNER["adam"])
    _check_against_finite_differences(cfg, seeds=(3, 4))


def test_second_order_terms_are_not_negligible():
    """MAML and first-order MAML must differ, or the finite-difference test above could
    pass on a first-order gradient."""
    cfg = tiny_config(algo=AlgoConfig(name="maml", inner_steps=3), inner_optim=INNER["sgd"])
    gan, params, support, query, key = _task(cfg)
    second, _, _ = _jitted_meta_gradient(cfg, gan, first_order=False)(params, support, query, key)
    first, _, _ = _jitted_meta_gradient(cfg, gan, first_order=True)(params, support, query, key)
    gap = max(float(jnp.max(jnp.abs(a - b))) for a, b in
              zip(jax.tree_util.tree_leaves(second), jax.tree_util.tree_leaves(first)))
    assert gap > 1e-4


@pytest.mark.parametrize("objective", ["gan", "dawson"])
def test_maml_with_zero_inner_steps_is_the_gradient_of_the_query_loss(objective):
    cfg = tiny_config(algo=AlgoConfig(name="maml", inner_steps=0, outer_objective=objective))
    gan, params, support, query, key = _task(cfg)
    grad, _, _ = _jitted_meta_gradient(cfg, gan, first_order=False)(params, support, query, key)
    outer = make_outer_losses(cfg, gan, loop_layout(cfg))
    _, outer_key = jax.random.split(key)
    d_grad = jax.grad(lambda p: outer(p, query, outer_key)[0])(params)["d"]
    g_grad = jax.grad(lambda p: outer(p, query, outer_key)[1])(params)["g"]
    tree_close(grad, {"g": g_grad, "d": d_grad}, rtol=1e-5, atol=1e-7)


# each objective and each optimiser once (every case compiles two second-order programs)
@pytest.mark.parametrize("objective,inner", [("gan", "adam"), ("dawson", "sgd")])
def test_fomaml_equals_maml_with_the_inner_gradients_stopped(objective, inner):
    cfg = tiny_config(algo=AlgoConfig(name="fomaml", inner_steps=3, outer_objective=objective),
                      inner_optim=INNER[inner])
    gan, params, support, query, key = _task(cfg)
    fomaml, _, _ = _jitted_meta_gradient(cfg, gan, first_order=True)(params, support, query, key)
    stopped, _, _ = _jitted_meta_gradient(cfg, gan, first_order=False, stop_inner_gradients=True)(
        params, support, query, key)
    tree_close(fomaml, stopped, rtol=1e-5, atol=1e-7)


def test_dawson_changes_only_the_generators_meta_gradient():
    base = tiny_config(algo=AlgoConfig(name="maml", inner_steps=2), inner_optim=INNER["sgd"])
    dawson = dataclasses.replace(base, algo=dataclasses.replace(base.algo, outer_objective="dawson"))
    gan, params, support, query, key = _task(base)
    plain, _, _ = _jitted_meta_gradient(base, gan, first_order=False)(params, support, query, key)
    other, _, _ = _jitted_meta_gradient(dawson, gan, first_order=False)(params, support, query, key)
    tree_close(plain["d"], other["d"], rtol=1e-5, atol=1e-7)
    gap = max(float(jnp.max(jnp.abs(a - b))) for a, b in
              zip(jax.tree_util.tree_leaves(plain["g"]), jax.tree_util.tree_leaves(other["g"])))
    assert gap > 1e-5


def test_meta_sgd_rates_at_the_configured_lr_reproduce_the_plain_inner_loop():
    cfg = tiny_config(algo=AlgoConfig(name="maml", inner_steps=3, learn_inner_lr=True),
                      inner_optim=INNER["adam"])
    gan, params, support, _, key = _task(cfg)
    inner = inner_loop(gan, cfg, 3)
    with_rates, _ = inner(params, support, key)
    without, _ = inner({"g": params["g"], "d": params["d"]}, support, key)
    tree_close(with_rates, without, rtol=1e-6, atol=1e-8)
    halved = {**params, "inner_lr": jax.tree_util.tree_map(lambda r: r / 2, params["inner_lr"])}
    slower, _ = inner(halved, support, key)
    assert not np.allclose(jax.tree_util.tree_leaves(slower)[0], jax.tree_util.tree_leaves(without)[0])


def test_rematerialisation_leaves_the_meta_gradient_unchanged():
    # float64: exact agreement expected; momentum: an optimiser state in the loop's carry
    # 4 inner steps: remat=nested checkpoints 2 chunks of 2 steps (with 5 it would fall back to step)
    cfg = tiny_config(algo=AlgoConfig(name="maml", inner_steps=4), inner_optim=INNER["sgd-momentum"])
    with jax.enable_x64(True):
        gan, params, support, query, key = _task(cfg, jnp.float64)
        plain, _, _ = _jitted_meta_gradient(cfg, gan, first_order=False)(params, support, query, key)
        for remat in ("step", "nested"):
            rematerialised = dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, remat=remat,
                                                                               scan_unroll=1))
            remat_grad, _, _ = _jitted_meta_gradient(rematerialised, gan, first_order=False)(
                params, support, query, key)
            tree_close(remat_grad, plain, rtol=1e-8, atol=1e-10)


def test_meta_gradient_with_reused_fakes_and_the_mmd_term_matches_finite_differences():
    """algo.reuse_fake: the G update pulls back through the D update's generator pass;
    algo.outer_mmd: G's outer loss scores the adapted samples against the queries.  One
    check for both: each second-order compile takes tens of seconds."""
    cfg = tiny_config(algo=AlgoConfig(name="maml", inner_steps=2, queries=4, reuse_fake=True,
                                      outer_mmd=2.0),
                      inner_optim=INNER["sgd"])
    _check_against_finite_differences(cfg, seeds=(5, 6))
    plain = dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, outer_mmd=0.0))
    gan, params, support, query, key = _task(cfg)
    with_mmd = _query_losses(cfg, gan, support, query, key)(params)
    without = _query_losses(plain, gan, support, query, key)(params)
    assert with_mmd[0] == without[0] and with_mmd[1] > without[1]
