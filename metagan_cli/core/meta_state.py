"""The meta-training state: one plain pytree, checkpointed as it is.

``{"step", "params": {"g", "d"[, "inner_lr"]}, "outer_opt", "key"}``.  Every random
draw of meta-step ``s`` comes from ``fold_in(key, s)``, so a run resumed from a
checkpoint continues the same random stream as an uninterrupted one.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.algorithms import algorithm
from metagan_cli.core.gan import Gan

# fold_in tags that keep the independent random streams of one seed apart
INIT_STREAM, TRAIN_STREAM, SAMPLE_STREAM, ADAPT_STREAM, EVAL_STREAM = range(5)


def root_key(seed: int) -> jax.Array:
    return jax.random.PRNGKey(seed)


def init_params(cfg: MetaLearnConfig, gan: Gan) -> dict:
    """The random initialisation every algorithm starts from (same seed, same weights)."""
    return gan.init(jax.random.fold_in(root_key(cfg.seed), INIT_STREAM))


def init_meta_params(cfg: MetaLearnConfig, gan: Gan) -> dict:
    """What the algorithm meta-learns: the GAN, plus Meta-SGD's per-parameter inner
    learning rates (starting at inner_optim.lr) when algo.learn_inner_lr is on."""
    params = init_params(cfg, gan)
    if cfg.algo.learn_inner_lr:
        params["inner_lr"] = jax.tree_util.tree_map(
            lambda p: jnp.full_like(p, cfg.inner_optim.lr), {"g": params["g"], "d": params["d"]})
    return params


def init_meta_state(cfg: MetaLearnConfig, gan: Gan) -> dict:
    params = init_meta_params(cfg, gan)
    return {"step": jnp.zeros((), jnp.int32),
            "params": params,
            "outer_opt": algorithm(cfg).init_outer_state(cfg, params),
            "key": jax.random.fold_in(root_key(cfg.seed), TRAIN_STREAM)}
