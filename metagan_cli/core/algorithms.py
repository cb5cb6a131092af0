"""Meta-learning algorithms by name: each returns ``step(state, data, classes)``.

``scratch`` has no step: its checkpoint is the initialisation itself."""
from __future__ import annotations

from typing import Callable

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.baselines import make_pretrain_step
from metagan_cli.core.gan import Gan
from metagan_cli.core.maml import make_maml_step
from metagan_cli.core.reptile import make_reptile_step

ALGORITHMS = {
    "reptile": make_reptile_step,
    "fomaml": lambda cfg, gan: make_maml_step(cfg, gan, first_order=True),
    "maml": lambda cfg, gan: make_maml_step(cfg, gan, first_order=False),
    "pretrain": make_pretrain_step,
}


def trains(cfg: MetaLearnConfig) -> bool:
    """False for algo=scratch, whose 'training' is the random initialisation."""
    return cfg.algo.name in ALGORITHMS


def make_meta_step(cfg: MetaLearnConfig, gan: Gan) -> Callable:
    return ALGORITHMS[cfg.algo.name](cfg, gan)
