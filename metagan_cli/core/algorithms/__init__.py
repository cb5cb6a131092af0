"""Meta-learning algorithms by name (``algo.name``).

Each module of this package registers its ``Algorithm`` records: how to build the
jitted meta-step and the facts about it that the rest of metagan asks (does it have a
task axis to shard, does it draw query images, does it differentiate through the inner
loop, what outer state does it keep).  A new algorithm is a new module here plus its
``conf/algo/<name>.yaml``; nothing else lists algorithm names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import optax
from jax.sharding import Mesh

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.episodes import ClassImages, sample_episodes
from metagan_cli.core.gan import Gan
from metagan_cli.core.loop_layout import LoopLayout, resolve_layout
from metagan_cli.core.optim import make_optimizer
from metagan_cli.core.registry import Registry, import_submodules

# step(state, data, classes) -> (state, metrics)
MetaStep = Callable[[dict, ClassImages, jax.Array], tuple[dict, dict]]
MakeStep = Callable[[MetaLearnConfig, Gan, LoopLayout, "Mesh | None"], MetaStep]


def init_outer_optimizer(cfg: MetaLearnConfig, params: dict) -> Any:
    """The outer optimiser's state over all meta-learned parameters."""
    return make_optimizer(cfg.outer_optim).init(params)


@dataclass(frozen=True)
class Algorithm:
    """``make_step(cfg, gan, layout, mesh)``: the meta-step, ready to jit (None: the
    algorithm does not train; its checkpoint is the initialisation).
    ``has_task_axis``: the step averages over a meta-batch of tasks, which several
    devices can share.  ``needs_queries``: each task also draws ``algo.queries`` query
    images.  ``second_order``: the step differentiates through the inner loop (remat
    applies, inner learning rates can be meta-learned).  ``init_outer_state(cfg,
    params)``: the state the step keeps besides the parameters (checkpointed).
    ``model``: the only ``model.arch`` it trains (None: any).  ``adapt_steps``: adapt's
    default number of steps (None: the run's ``algo.inner_steps``; 0 for a generator
    that follows its shots without fine-tuning)."""
    name: str
    make_step: MakeStep | None
    has_task_axis: bool = True
    needs_queries: bool = False
    second_order: bool = False
    init_outer_state: Callable[[MetaLearnConfig, dict], Any] = init_outer_optimizer
    model: str | None = None
    adapt_steps: int | None = None

    @property
    def trains(self) -> bool:
        return self.make_step is not None

    def tasks_per_step(self, cfg: MetaLearnConfig) -> int:
        """Tasks (each one inner loop) per meta-step: 1 without a task axis."""
        return cfg.algo.meta_batch if self.has_task_axis else 1

    def images_per_task(self, cfg: MetaLearnConfig) -> int:
        return cfg.shots + (cfg.algo.queries if self.needs_queries else 0)

    def default_adapt_steps(self, cfg: MetaLearnConfig) -> int:
        """The run's algo.adapt_steps, else the algorithm's own (DAGAN 0), else its inner steps."""
        if cfg.algo.adapt_steps is not None:
            return cfg.algo.adapt_steps
        return cfg.algo.inner_steps if self.adapt_steps is None else self.adapt_steps


ALGORITHMS: Registry[Algorithm] = Registry("algo.name")


def algorithm(cfg: MetaLearnConfig) -> Algorithm:
    return ALGORITHMS.get(cfg.algo.name)


def loop_layout(cfg: MetaLearnConfig) -> LoopLayout:
    """The layout of the algorithm's meta-step program, resolved once."""
    return resolve_layout(cfg.loop, cfg.model, cfg.algo.inner_steps, algorithm(cfg).second_order)


def make_meta_step(cfg: MetaLearnConfig, gan: Gan, mesh: Mesh | None = None) -> MetaStep:
    """The algorithm's ``step(state, data, classes)``; ``mesh`` shards the task batch."""
    record = algorithm(cfg)
    if not record.trains:
        raise ValueError(f"algo={record.name} has no meta-step")
    return record.make_step(cfg, gan, loop_layout(cfg), mesh)


# ---- what every meta-step shares --------------------------------------------------

class TaskBatch(NamedTuple):
    support: jax.Array      # [tasks, shots, H, W, C]
    query: jax.Array        # [tasks, queries, H, W, C]
    keys: jax.Array         # [tasks] one key per task's inner loop


def step_key(state: dict) -> jax.Array:
    """Meta-step s draws everything from fold_in(key, s): a resumed run continues the
    stream of an uninterrupted one."""
    return jax.random.fold_in(state["key"], state["step"])


def draw_tasks(state: dict, data: ClassImages, classes: jax.Array, tasks: int, shots: int,
               queries: int = 0) -> TaskBatch:
    """The meta-step's tasks: distinct classes, their support (and query) images, and a
    key per task."""
    episode_key, inner_key = jax.random.split(step_key(state))
    _, support, query = sample_episodes(episode_key, data, classes, tasks, shots, queries)
    return TaskBatch(support, query, jax.random.split(inner_key, tasks))


def outer_update(state: dict, direction: dict, tx: optax.GradientTransformation) -> dict:
    """The state after the outer optimiser's step along ``direction`` (a gradient or
    Reptile's pseudo-gradient, like the parameters)."""
    params = state["params"]
    updates, outer_opt = tx.update(direction, state["outer_opt"], params)
    return {**state, "step": state["step"] + 1, "params": optax.apply_updates(params, updates),
            "outer_opt": outer_opt}


import_submodules(__name__, __path__)
