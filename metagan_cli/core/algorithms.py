"""Meta-learning algorithms by name: each returns ``step(state, data, classes)``.

``scratch`` has no step: its checkpoint is the initialisation itself."""
from __future__ import annotations

from typing import Callable

from jax.sharding import Mesh

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.baselines import make_pretrain_step
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import with_task_batching_resolved
from metagan_cli.core.maml import make_maml_step
from metagan_cli.core.reptile import make_reptile_step

ALGORITHMS = {
    "reptile": make_reptile_step,
    "fomaml": lambda cfg, gan, mesh: make_maml_step(cfg, gan, first_order=True, mesh=mesh),
    "maml": lambda cfg, gan, mesh: make_maml_step(cfg, gan, first_order=False, mesh=mesh),
    # one GAN on pooled batches: no task axis to shard, so it runs replicated on a mesh
    "pretrain": lambda cfg, gan, mesh: make_pretrain_step(cfg, gan),
}


def trains(cfg: MetaLearnConfig) -> bool:
    """False for algo=scratch, whose 'training' is the random initialisation."""
    return cfg.algo.name in ALGORITHMS


def has_task_axis(cfg: MetaLearnConfig) -> bool:
    """Whether the algorithm's step averages over a meta-batch of tasks, which several
    devices can share (pretrain trains one GAN on pooled batches; scratch does not train)."""
    return cfg.algo.name in ("reptile", "fomaml", "maml")


def make_meta_step(cfg: MetaLearnConfig, gan: Gan, mesh: Mesh | None = None) -> Callable:
    """The algorithm's ``step(state, data, classes)``; ``mesh`` shards the task batch."""
    cfg = with_task_batching_resolved(cfg)
    return ALGORITHMS[cfg.algo.name](cfg, gan, mesh)
