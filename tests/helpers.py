"""Tiny configurations that compile in seconds."""
from metagan_cli.config import (AlgoConfig, LoopConfig, MetaLearnConfig, ModelConfig,
                                OptimConfig, TaskConfig, TrainConfig)


def tiny_config(**overrides) -> MetaLearnConfig:
    base = dict(
        task=TaskConfig(image_size=8),
        model=ModelConfig(image_size=8, z_dim=8, width=8),
        algo=AlgoConfig(meta_batch=2, inner_steps=2),
        inner_optim=OptimConfig(name="sgd", lr=0.05),
        outer_optim=OptimConfig(name="sgd", lr=1.0),
        loop=LoopConfig(scan_unroll="full", task_batching="unrolled"),
        train=TrainConfig(steps=4, log_every=2, sample_every=2, checkpoint_every=2),
    )
    base.update(overrides)
    return MetaLearnConfig(**base)


def inner_loop(gan, cfg: MetaLearnConfig, steps: int, stop_gradients: bool = False):
    """The config's inner loop of ``steps`` steps, laid out as its algorithm's meta-step."""
    from metagan_cli.core.algorithms import algorithm
    from metagan_cli.core.inner_loop import make_inner_loop
    from metagan_cli.core.loop_layout import resolve_layout
    second_order = algorithm(cfg).second_order and not stop_gradients
    layout = resolve_layout(cfg.loop, cfg.model, steps, second_order)
    return make_inner_loop(gan, cfg.inner_optim, steps, layout, n_critic=cfg.algo.n_critic,
                           reuse_fake=cfg.algo.reuse_fake, stop_gradients=stop_gradients)
