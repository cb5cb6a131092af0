"""Meta-learning algorithms by name: each returns ``step(state, data, classes)``."""
from __future__ import annotations

from typing import Callable

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.gan import Gan
from metagan_cli.core.reptile import make_reptile_step

ALGORITHMS = {"reptile": make_reptile_step}


def make_meta_step(cfg: MetaLearnConfig, gan: Gan) -> Callable:
    return ALGORITHMS[cfg.algo.name](cfg, gan)
